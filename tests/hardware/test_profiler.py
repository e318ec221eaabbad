"""Cost profilers on their own (no objective): what each measures of a candidate without training it,
how it says so, and the differentiable latency term only a latency table gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from configured import space

from nascli.errors import ConfigError
from nascli.hardware import cost
from nascli.hardware.cost import Timing
from nascli.hardware.profiler import CostProfiler, CpuLatency, TableLatency
from nascli.hardware.latency_table import build_table

NB201 = space("nb201", channels=4, cells_per_stage=1)
ARCH = NB201.from_str("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
SHAPE = (10, 1, 8)


def test_the_plain_profiler_measures_params_and_flops_and_keeps_what_is_known() -> None:
    model = NB201.build_network(ARCH, *SHAPE)
    metrics = CostProfiler().measure(NB201, ARCH, SHAPE)
    assert set(metrics) == {"params_m", "flops_m"} and not CostProfiler.latency
    assert metrics["params_m"] == pytest.approx(cost.params_m(model)) and metrics["flops_m"] > 0
    known = {"params_m": 1.0, "flops_m": 2.0}  # a benchmark table's: not measured again
    assert CostProfiler().measure(NB201, ARCH, SHAPE, known) == known
    assert CostProfiler().latency_loss(NB201, SHAPE) is None and CostProfiler().describe() == {}


def test_a_cpu_profiler_times_the_network_and_says_how() -> None:
    cpu = CpuLatency(batch_size=1, warmup=0, repeats=3, threads=1)
    timed = cpu.measure(NB201, ARCH, SHAPE)
    assert set(timed) == {"params_m", "flops_m", "latency_ms", "latency_iqr_ms"} and timed["latency_ms"] > 0
    described = cpu.describe()
    assert described["device"].startswith("cpu") and {k: described[k] for k in ("batch_size", "warmup", "repeats",
                                                                                 "threads")} == {
        "batch_size": 1, "warmup": 0, "repeats": 3, "threads": 1}
    assert cpu.latency_loss(NB201, SHAPE) is None  # measured latency is no differentiable term
    with pytest.raises(ConfigError, match="repeats"):
        CpuLatency(batch_size=1, warmup=0, repeats=0, threads=None)


def _stand_in(module, input_shape) -> Timing:
    return Timing(2.0, 0.0, 1)  # every piece 2 ms


def test_a_table_profiler_estimates_latency_and_gives_one_shot_strategies_its_terms(tmp_path: Path) -> None:
    path = tmp_path / "latency_table.csv"
    table = build_table(NB201, SHAPE, _stand_in, {"device": "stand-in"}, calibration=0, seed=0)
    table.save(path)
    lut = TableLatency(table=str(path), latency_loss_weight=0.05)
    assert lut.measure(NB201, ARCH, SHAPE)["latency_ms"] == pytest.approx(table.estimate(NB201, ARCH, SHAPE))
    loss = lut.latency_loss(NB201, SHAPE)
    assert loss is not None and loss.weight == 0.05
    assert loss.terms.constant_ms == table.terms(NB201, SHAPE).constant_ms
    assert TableLatency(table=str(path), latency_loss_weight=0.0).latency_loss(NB201, SHAPE) is None
    assert lut.describe()["table"] == str(path) and lut.describe()["measured_on"]["device"] == "stand-in"
    with pytest.raises(ConfigError, match="hardware=lut needs a latency table"):
        TableLatency(table=None, latency_loss_weight=0.0)
    with pytest.raises(ConfigError, match="latency_loss_weight must be at least 0"):
        TableLatency(table=str(path), latency_loss_weight=-1.0)
