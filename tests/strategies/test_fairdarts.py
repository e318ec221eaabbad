"""FairDARTS: sigmoid architecture weights (each op on its own, rows need not sum to 1) and the
zero-one loss that drives them towards 0 or 1; searched end to end on both cell spaces."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from configured import space
from nasrun import compose, read_json, read_trials, run

from nascli.strategies.darts import ZeroOneLoss
from nascli.weight_sharing.mixing import Sigmoid
from nascli.weight_sharing.supernet import build_supernet

NB201 = space("nb201", channels=4, cells_per_stage=1)


def test_weights_are_independent_sigmoids_and_the_mixture_uses_them() -> None:
    torch.manual_seed(0)
    net = build_supernet(NB201, 10, 1, 8, Sigmoid())
    with torch.no_grad():
        net.alpha("cell").copy_(torch.linspace(-3, 3, 30).view(6, 5))
    weights = net.arch_weights()["cell"]
    torch.testing.assert_close(weights, torch.sigmoid(torch.linspace(-3, 3, 30).view(6, 5)))
    assert not torch.allclose(weights.sum(1), torch.ones(6))  # no softmax: the ops do not share one unit
    logits = net(torch.randn(2, 1, 8, 8))
    logits.sum().backward()
    assert net.alpha("cell").grad.abs().sum() > 0


def test_the_zero_one_loss_pushes_weights_away_from_one_half_and_spares_none() -> None:
    torch.manual_seed(0)
    net = build_supernet(NB201, 10, 1, 8, Sigmoid())
    term = ZeroOneLoss(net, 10.0)
    none = net.op_names.index("none")
    with torch.no_grad():
        net.alpha("cell").copy_(torch.tensor([[0.0, 0.2, -0.2, 1.0, -1.0]] * 6))
    (grad,) = torch.autograd.grad(term.loss(net), [net.alpha("cell")])
    alpha = net.alpha("cell").detach()
    # gradient descent moves each alpha away from 0 (its weight away from 1/2); `none` is left alone
    others = [k for k in range(5) if k != none]
    assert torch.all(-grad[:, others] * alpha[:, others] >= 0) and torch.all(grad[:, none] == 0)
    assert term.loss(net).item() < 0


@pytest.mark.slow
def test_a_smoke_search_derives_a_cell_and_records_sigmoid_weights(tmp_path: Path) -> None:
    result = run("search", "strategy=fairdarts", "debug=smoke", "trainer.epochs=2", "plots=false",
                 run_dir=tmp_path / "fair")
    assert result.code == 0, result.text
    rows = read_trials(tmp_path / "fair")
    assert len(rows) == 2 and read_json(tmp_path / "fair" / "report.json")["strategy"] == "FairDARTS"
    weights = read_json(tmp_path / "fair" / "alphas.json")["softmax"]["cell"][-1]
    assert any(abs(sum(row) - 1.0) > 0.1 for row in weights)  # sigmoids, not a softmax over each row
    genotype = read_json(tmp_path / "fair" / "genotype.json")
    assert genotype["arch_str"] == rows[-1]["arch_str"]


@pytest.mark.slow
def test_the_zero_one_loss_is_part_of_the_architecture_step(tmp_path: Path) -> None:
    """The same smoke search with and without the zero-one loss: the same weights' path, other alphas."""
    final = {}
    for weight in (0.0, 10.0):
        run_dir = tmp_path / f"w{weight}"
        result = run("search", "strategy=fairdarts", "debug=smoke", f"strategy.zero_one_weight={weight}",
                     "plots=false", run_dir=run_dir)
        assert result.code == 0, result.text
        final[weight] = read_json(run_dir / "alphas.json")["softmax"]["cell"][-1]
    assert final[0.0] != final[10.0]


def test_fairdarts_takes_darts_defaults_and_its_own() -> None:
    cfg = compose("search", "strategy=fairdarts")
    assert cfg.strategy.order == "first" and cfg.strategy.zero_one_weight == 10.0
    assert cfg.strategy.arch_optimizer.lr == 3.0e-4 and cfg.trainer.epochs == 50 and cfg.budget.trials is None
