"""Cost measurements against NAS-Bench-201's own numbers, and the hardware objective."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from nasrun import BENCHMARKS

from nascli.hardware import cost
from nascli.hardware.target import HardwareTarget
from nascli.spaces.nb201 import NB201Space

TABLE = BENCHMARKS / "nb201_subset.csv"


@pytest.mark.skipif(not TABLE.exists(), reason="shared benchmarks not present")
def test_flops_track_the_benchmarks_count() -> None:
    # torch's counter counts convolutions and linear layers (MACs here); the benchmark also counts
    # BN and pooling, so we are a little lower: within 4% for cells without pooling, never above,
    # and the order of architectures by cost (what a hardware objective uses) is the same.
    table = pd.read_csv(TABLE)
    rows = table[table.dataset == "cifar10"].sort_values("flops_m").iloc[::40]
    space = NB201Space()
    ours = []
    for _, row in rows.iterrows():
        model = space.build_network(space.from_str(row.arch), 10, 3, 32)
        ours.append(cost.flops_m(model, (3, 32, 32)))
        assert ours[-1] <= row.flops_m * 1.001, row.arch
        if "avg_pool" not in row.arch:
            assert ours[-1] == pytest.approx(row.flops_m, rel=0.04, abs=1.0), row.arch
        assert cost.params_m(model) == pytest.approx(row.params_m, abs=1e-4)
    assert pd.Series(ours).corr(rows.flops_m.reset_index(drop=True), method="spearman") > 0.97


def test_latency_is_positive_and_objective_applies_the_mnasnet_scaling() -> None:
    space = NB201Space(channels=4, cells_per_stage=1)
    model = space.build_network(space.from_str("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"), 10, 1, 8)
    assert cost.latency_ms(model, (1, 8, 8), repeats=3) > 0
    target = HardwareTarget(name="cpu", latency=True, target_latency_ms=2.0, latency_weight=-0.5)
    assert target.objective({"val_accuracy": 90.0, "latency_ms": 8.0}) == pytest.approx(45.0)
    assert target.objective({"val_accuracy": 90.0, "latency_ms": 2.0}) == pytest.approx(90.0)


def test_hard_limits_make_a_candidate_infeasible() -> None:
    target = HardwareTarget(max_params_m=1.0)
    assert target.objective({"val_accuracy": 99.0, "params_m": 0.5}) == 99.0
    assert target.objective({"val_accuracy": 99.0, "params_m": 2.0}) == -math.inf
