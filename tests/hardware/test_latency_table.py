"""Per-op latency tables: a network's estimate is the sum of its pieces plus the measured overhead
(checked by hand with a stand-in timer), tables round-trip through CSV with where they were measured,
and the wrong table is a clear error saying what it was built for (`nas latency-table` itself:
tests/commands/test_latency_table.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from configured import space

from nascli.errors import NasError
from nascli.hardware.cost import Timing
from nascli.hardware.latency_table import LatencyTable, build_table, overhead_key

NB201 = space("nb201", channels=4, cells_per_stage=1)
SHAPE = (10, 1, 8)
CONV = NB201.from_str("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
POOL = NB201.from_str("|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")


def stand_in(module, input_shape) -> Timing:
    """A stand-in device: 3 ms for a 3x3 convolution, 1 ms for any other piece."""
    from nascli.spaces.ops import ReLUConvBN

    is_conv3 = isinstance(module, ReLUConvBN) and module[1].kernel_size == (3, 3)
    return Timing(3.0 if is_conv3 else 1.0, 0.0, 1)


@pytest.fixture(scope="module")
def table() -> LatencyTable:
    return build_table(NB201, SHAPE, stand_in, {"device": "stand-in"}, calibration=0, seed=0)


def test_a_networks_estimate_is_the_sum_of_its_pieces_by_hand(table: LatencyTable) -> None:
    # the skeleton (stem, 2 ResNet blocks, the cells' node sums, head: what every network runs), one
    # piece of 1 ms; the all-conv3x3 cell's 6 edges x 3 cells at 3 ms = 54 ms; no calibration, no overhead
    assert table.estimate(NB201, CONV, SHAPE) == pytest.approx(1 + 54)
    # one edge a pool instead (1 ms) in each of the 3 cells: 3 x 2 ms less
    assert table.estimate(NB201, POOL, SHAPE) == pytest.approx(1 + 54 - 6)


def test_estimates_add_up_over_choices(table: LatencyTable) -> None:
    terms = table.terms(NB201, SHAPE)
    assert terms.constant_ms == pytest.approx(1.0)
    assert terms.by_choice[("cell", 0, "nor_conv_3x3")] == pytest.approx(9.0)  # 3 cells x 3 ms
    assert table.estimate(NB201, CONV, SHAPE) == pytest.approx(
        terms.constant_ms + sum(terms.by_choice[c] for c in NB201.chosen(CONV)))


def test_a_table_round_trips_with_where_it_was_measured(table: LatencyTable, tmp_path: Path) -> None:
    table.meta.update({"torch": "2.x", "threads": 1, "batch_size": 1})
    table.save(tmp_path / "t.csv")
    loaded = LatencyTable.load(tmp_path / "t.csv")
    assert loaded.latency == pytest.approx(table.latency)
    assert loaded.meta == {"space": "nb201", "device": "stand-in", "torch": "2.x", "threads": "1", "batch_size": "1"}
    assert loaded.estimate(NB201, CONV, SHAPE) == pytest.approx(table.estimate(NB201, CONV, SHAPE))
    assert overhead_key("nb201", SHAPE) in loaded.latency


def test_a_table_of_another_shape_or_no_table_is_a_clear_error(table: LatencyTable, tmp_path: Path) -> None:
    assert table.built_for() == "the nb201 space at 1x8x8 inputs and 10 classes"
    with pytest.raises(NasError, match=r"has no entry for .* at 3x32x32 inputs and 10 classes.* It was built for the "
                                       r"nb201 space at 1x8x8 inputs and 10 classes: build one for this search with "
                                       r"`nas latency-table search_space=nb201 dataset=<this search's dataset>`"):
        table.estimate(NB201, CONV, (10, 3, 32))
    with pytest.raises(NasError, match="No latency table at"):
        LatencyTable.load(tmp_path / "absent.csv")


def test_the_overhead_is_the_median_gap_of_whole_networks_over_their_pieces() -> None:
    import random
    import statistics

    from nascli.spaces.nb201.outline import NB201Net
    from nascli.spaces.outline import FreeOp

    def device(module, input_shape) -> Timing:  # whole networks take 100 ms, pieces (the skeleton too) as the stand-in
        whole = isinstance(module, NB201Net) and not any(isinstance(m, FreeOp) for m in module.modules())
        return Timing(100.0, 0.0, 1) if whole else stand_in(module, input_shape)

    calibrated = build_table(NB201, SHAPE, device, {}, calibration=3, seed=7)
    plain = build_table(NB201, SHAPE, stand_in, {}, calibration=0, seed=7)
    rng = random.Random(7)
    gaps = [100.0 - plain.estimate(NB201, NB201.sample(rng), SHAPE) for _ in range(3)]
    assert calibrated.latency[overhead_key("nb201", SHAPE)] == pytest.approx(statistics.median(gaps))
    arch = NB201.sample(random.Random(1))
    assert calibrated.estimate(NB201, arch, SHAPE) == pytest.approx(plain.estimate(NB201, arch, SHAPE)
                                                                   + statistics.median(gaps))
