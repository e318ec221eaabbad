"""The differentiable latency term of DARTS, PC-DARTS and GDAS (hardware=lut): the supernet's
expected latency under its architecture weights, whose gradient moves weight toward cheaper ops, so
that a heavy latency weight derives a measurably faster cell."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from configured import CPU, space
from nasrun import read_trials, run

from nascli.hardware.cost import Timing
from nascli.hardware.latency_table import build_table
from nascli.spaces.ops import ReLUConvBN
from nascli.strategies.darts import LatencyTerm
from nascli.weight_sharing.mixing import Gumbel, PartialChannels, Softmax
from nascli.weight_sharing.supernet import build_supernet

NB201 = space("nb201", channels=4, cells_per_stage=1)
SHAPE = (10, 1, 8)


def stand_in(module, input_shape) -> Timing:
    """A stand-in device: 3 ms for a 3x3 convolution, 2 ms for a 1x1, 1 ms for any other piece."""
    if isinstance(module, ReLUConvBN):
        return Timing(3.0 if module[1].kernel_size == (3, 3) else 2.0, 0.0, 1)
    return Timing(1.0, 0.0, 1)


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lut") / "latency_table.csv"
    build_table(NB201, SHAPE, stand_in, {"device": "stand-in"}, calibration=0, seed=0).save(path)
    return path


@pytest.mark.parametrize("mode", ["darts", "pcdarts", "gdas"])
def test_the_gradient_moves_weight_toward_cheaper_ops(table: Path, mode: str) -> None:
    from nascli.hardware.latency_table import LatencyTable

    mixing = {"darts": Softmax(), "pcdarts": PartialChannels(4), "gdas": Gumbel()}[mode]
    net = build_supernet(NB201, *SHAPE, mixing)
    term = LatencyTerm.of(net, LatencyTable.load(table).terms(NB201, SHAPE), 1.0, CPU)
    expected = term.expected(net)
    uniform = 1.0 + 3 * 6 * (1 + 1 + 2 + 3 + 1) / 5  # the skeleton + 18 edges at the mean op cost
    assert expected.item() == pytest.approx(uniform, rel=0.01)  # alphas start near uniform
    (grad,) = torch.autograd.grad(term.loss(net), [net.alpha("cell")])
    ops = list(net.op_names)
    for edge in range(6):  # each edge: raising a 3x3 conv's weight costs, raising none's or a pool's saves
        assert grad[edge, ops.index("nor_conv_3x3")] > grad[edge, ops.index("nor_conv_1x1")] > 0
        assert grad[edge, ops.index("none")] < 0 and grad[edge, ops.index("avg_pool_3x3")] < 0


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["darts", "gdas"])
def test_a_heavy_latency_weight_derives_a_faster_cell(table: Path, strategy: str, tmp_path: Path) -> None:
    latency = {}
    for weight in (0.0, 5.0):
        run_dir = tmp_path / f"w{weight}"
        result = run("search", f"strategy={strategy}", "strategy.order=first", "debug=smoke",
                     "search_space.cells_per_stage=1", "hardware=lut", f"hardware.table={table}",
                     f"hardware.latency_loss_weight={weight}", "strategy.arch_optimizer.lr=0.01", "trainer.epochs=3",
                     "trainer.batch_size=32", run_dir=run_dir)
        assert result.code == 0, result.text
        rows = read_trials(run_dir)
        latency[weight] = float(rows[-1]["latency_ms"])
        assert ("expected_latency_ms" in rows[-1]) == (weight > 0)
    assert latency[5.0] < latency[0.0] - 3.0  # at least one 3x3 convolution fewer in each of the 3 cells
