"""The hardware group as users write it (`hardware=cpu hardware.threads=1 hardware.max_latency_ms=3`):
one node, built into a cost profiler and an objective; every key checked, an unknown one named."""

from __future__ import annotations

import pytest
from configured import hardware
from omegaconf import OmegaConf

from nascli.errors import ConfigError
from nascli.hardware.objective import LatencyObjective, SearchObjective
from nascli.hardware.profiler import CostProfiler, CpuLatency
from nascli.hardware.target import build_target


def test_each_key_goes_to_the_part_that_takes_it() -> None:
    target = hardware("cpu", threads=1, repeats=3, max_latency_ms=3.0, objective="pareto", choose="knee")
    assert isinstance(target.profiler, CpuLatency) and isinstance(target.objective, LatencyObjective)
    assert (target.profiler.threads, target.profiler.repeats) == (1, 3)
    assert target.objective.limits["latency_ms"] == 3.0 and target.objective.pareto and target.objective.choose == "knee"
    plain = hardware("none", max_params_m=0.5)
    assert type(plain.profiler) is CostProfiler and type(plain.objective) is SearchObjective
    assert plain.objective.limits == {"params_m": 0.5, "flops_m": None}


def test_the_report_describes_the_target_its_objective_and_how_it_measures() -> None:
    described = hardware("cpu", repeats=3, warmup=0, threads=1, max_flops_m=5.0).describe()
    assert list(described)[:4] == ["target", "objective", "cost", "limits"]
    assert described["target"] == "cpu" and described["cost"] == "latency_ms" and described["limits"] == {"flops_m": 5.0}
    assert described["device"].startswith("cpu") and described["repeats"] == 3
    assert hardware("none", max_flops_m=5.0).describe() == {"target": "none", "objective": "soft", "cost": "params_m",
                                                             "limits": {"flops_m": 5.0}}


def test_an_unknown_or_misplaced_key_is_an_error_naming_the_group() -> None:
    with pytest.raises(ConfigError, match=r"hardware has no option 'max_param_m' \(did you mean 'max_params_m'\?\)"):
        hardware("none", max_param_m=1.0)
    # latency is not measured without a device: its limit is no option of hardware=none
    with pytest.raises(ConfigError, match="hardware has no option 'max_latency_ms'.*Its options are: choose, "
                                          "max_flops_m, max_params_m, objective"):
        hardware("none", max_latency_ms=3.0)
    with pytest.raises(ConfigError, match="hardware.threads must be an integer or null, got 'many'"):
        hardware("cpu", threads="many")
    with pytest.raises(ConfigError, match="hardware._target_ must name a cost profiler"):
        build_target(OmegaConf.create({"_target_": "nascli.hardware.objective.SearchObjective"}))
