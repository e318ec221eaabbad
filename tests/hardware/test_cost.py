"""Cost measurements against NAS-Bench-201's own numbers, and the hardware targets (`none`, `cpu`):
what they measure, their hard limits, and the objective they fold cost into."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from configured import hardware, space

from nascli.benchmarks import table_path
from nascli.errors import ConfigError
from nascli.hardware import cost
from nascli.hardware.target import CostTarget, LatencyTarget

TABLE = table_path("nb201")  # ships inside the package
SMALL_ARCH = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"


def small_network():
    nb201 = space("nb201", channels=4, cells_per_stage=1)
    return nb201.build_network(nb201.from_str(SMALL_ARCH), 10, 1, 8)


def test_flops_track_the_benchmarks_count() -> None:
    # torch's counter counts convolutions and linear layers (MACs here); the benchmark also counts
    # BN and pooling, so we are a little lower: within 4% for cells without pooling, never above,
    # and the order of architectures by cost (what a hardware objective uses) is the same.
    table = pd.read_csv(TABLE)
    rows = table[table.dataset == "cifar10"].sort_values("flops_m").iloc[::40]
    assert len(rows) >= 15
    nb201 = space("nb201")  # the benchmark's network size
    ours = []
    for _, row in rows.iterrows():
        model = nb201.build_network(nb201.from_str(row.arch), 10, 3, 32)
        ours.append(cost.flops_m(model, (3, 32, 32)))
        assert ours[-1] <= row.flops_m * 1.001, row.arch
        if "avg_pool" not in row.arch:
            assert ours[-1] == pytest.approx(row.flops_m, rel=0.04, abs=1.0), row.arch
        assert cost.params_m(model) == pytest.approx(row.params_m, abs=1e-4)
    assert pd.Series(ours).corr(rows.flops_m.reset_index(drop=True), method="spearman") > 0.97


def test_latency_is_positive_and_objective_applies_the_mnasnet_scaling() -> None:
    assert cost.latency_ms(small_network(), (1, 8, 8), repeats=3) > 0
    target = hardware("cpu", target_latency_ms=2.0, latency_weight=-0.5)
    assert isinstance(target, LatencyTarget) and target.latency
    assert target.objective({"val_accuracy": 90.0, "latency_ms": 8.0}) == pytest.approx(45.0)
    assert target.objective({"val_accuracy": 90.0, "latency_ms": 2.0}) == pytest.approx(90.0)
    assert target.objective({"zc_synflow": 30.0, "latency_ms": 8.0}, metric="zc_synflow") == pytest.approx(15.0)
    untargeted = hardware("cpu", target_latency_ms=None)  # latency measured, objective unscaled
    assert untargeted.objective({"val_accuracy": 90.0, "latency_ms": 8.0}) == 90.0


def test_timed_runs_cycle_through_different_inputs_within_a_memory_cap() -> None:
    """The same input every run lets the branch predictor learn it: max pooling then times far
    faster than it runs inside a network, and a latency table misranks networks."""

    class Recorder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[int] = []

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.seen.append(x.data_ptr())
            return x

    model = Recorder()
    timing = cost.time_forward(model, (2, 4, 4), warmup=2, repeats=40)
    assert timing.runs == 40 and len(model.seen) == 42
    assert len(set(model.seen)) == cost.DISTINCT_INPUTS and model.seen[0] != model.seen[1]
    assert len(cost.timing_inputs((3, 32, 32), 1, torch.device("cpu"))) == cost.DISTINCT_INPUTS
    huge = cost.INPUTS_BYTES // 4 // 3  # batch elements of 4-byte floats: three fill the budget
    assert len(cost.timing_inputs((1, 1, 1), huge, torch.device("meta"))) == 3
    assert len(cost.timing_inputs((1, 1, 1), 2 * cost.INPUTS_BYTES, torch.device("meta"))) == 1


def test_hard_limits_make_a_candidate_infeasible() -> None:
    target = hardware("none", max_params_m=1.0)
    assert isinstance(target, CostTarget) and not target.latency
    assert target.objective({"val_accuracy": 99.0, "params_m": 0.5}) == 99.0
    assert target.feasible({"params_m": 0.5}) and not target.feasible({"params_m": 2.0})
    assert target.objective({"val_accuracy": 99.0, "params_m": 2.0}) == -math.inf
    assert target.objective({"val_accuracy": math.nan, "params_m": 0.5}) == -math.inf  # not measured
    slow = hardware("cpu", max_latency_ms=5.0, max_flops_m=10.0)
    assert slow.objective({"val_accuracy": 99.0, "latency_ms": 6.0, "flops_m": 1.0}) == -math.inf
    assert slow.objective({"val_accuracy": 99.0, "latency_ms": 4.0, "flops_m": 11.0}) == -math.inf
    assert math.isfinite(slow.objective({"val_accuracy": 99.0, "latency_ms": 4.0, "flops_m": 1.0}))


def test_targets_measure_and_describe_what_they_measure() -> None:
    nb201 = space("nb201", channels=4, cells_per_stage=1)
    arch = nb201.from_str("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    model = nb201.build_network(arch, 10, 1, 8)
    metrics = hardware("none").measure(nb201, arch, (10, 1, 8))
    assert set(metrics) == {"params_m", "flops_m"}
    assert metrics["params_m"] == pytest.approx(cost.params_m(model)) and metrics["flops_m"] > 0
    assert hardware("none").measure(nb201, arch, (10, 1, 8), {"params_m": 1.0, "flops_m": 2.0}) == {
        "params_m": 1.0, "flops_m": 2.0}  # what is known (a table's) is not measured again
    cpu = hardware("cpu", repeats=3, warmup=0, threads=1)
    timed = cpu.measure(nb201, arch, (10, 1, 8))
    assert set(timed) == {"params_m", "flops_m", "latency_ms", "latency_iqr_ms"} and timed["latency_ms"] > 0
    assert timed["latency_iqr_ms"] >= 0
    assert hardware("none", max_flops_m=5.0).describe() == {"target": "none", "objective": "soft", "cost": "params_m",
                                                             "limits": {"flops_m": 5.0}}
    described = cpu.describe()
    assert described["target"] == "cpu" and described["limits"] == {} and described["device"].startswith("cpu")
    assert {k: described[k] for k in ("batch_size", "warmup", "repeats", "threads")} == {
        "batch_size": 1, "warmup": 0, "repeats": 3, "threads": 1}


def test_bad_latency_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="target_latency_ms"):
        hardware("cpu", target_latency_ms=0.0)
    with pytest.raises(ConfigError, match="repeats"):
        hardware("cpu", repeats=0)
    with pytest.raises(ConfigError, match="max_params_m"):
        hardware("none", max_param_m=1.0)  # a misspelt option names the valid ones
