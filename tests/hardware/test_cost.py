"""Cost measurements (parameters, FLOPs, latency) against NAS-Bench-201's own numbers, and how
latency is timed."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from configured import space

from nascli.benchmarks import table_path
from nascli.hardware import cost

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


def test_latency_is_positive() -> None:
    timing = cost.time_forward(small_network(), (1, 8, 8), repeats=3)
    assert timing.median_ms > 0 and timing.iqr_ms >= 0 and timing.runs == 3
    assert cost.latency_ms(small_network(), (1, 8, 8), repeats=3) > 0


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
