"""Gradient-based search (DARTS, PC-DARTS, GDAS): the second-order gradient, the shared bilevel loop
in process, and `nas search strategy=darts` end to end (smoke run, resume, presets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from nasrun import nas, read_json, read_trials
from rich.console import Console
from torch import nn

from nascli.data.datasets import digits_splits
from nascli.errors import ConfigError
from nascli.hardware.target import HardwareTarget
from nascli.search.loop import Budget
from nascli.search.oneshot import CHECKPOINT, OneShotRun
from nascli.search.trials import TrialLog
from nascli.spaces.darts import DartsSpace
from nascli.spaces.nb201 import NB201Space
from nascli.strategies.darts import DARTS, GDAS, PCDARTS, split_halves, unrolled_arch_grads

ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # tiny models: one thread is fastest and immune to a busy machine


# --- the second-order architecture gradient ---------------------------------------------------------
class TinyMixture(nn.Module):
    """Three candidate layers mixed by softmax(alpha_x): a smooth stand-in for a supernet edge."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = nn.ModuleList(nn.Linear(4, 3) for _ in range(3))
        self.alpha_x = nn.Parameter(torch.randn(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(self.alpha_x, 0)
        return sum(w[k] * torch.tanh(op(x)) for k, op in enumerate(self.ops))


def _unrolled_val_loss(model, alpha, train, val, lr, wd, momentum, buffers) -> torch.Tensor:
    """L_val(w - lr * (momentum * buf + grad_w L_train(w, alpha) + wd * w), alpha), exactly."""
    from torch.func import functional_call

    weights = {n: p for n, p in model.named_parameters() if n != "alpha_x"}

    def loss(params, batch):
        x, y = batch
        return nn.functional.cross_entropy(functional_call(model, {**params, "alpha_x": alpha}, (x,)), y)

    grads = torch.autograd.grad(loss(weights, train), list(weights.values()))
    unrolled = {n: w - lr * (momentum * buffers[n] + g + wd * w) for (n, w), g in zip(weights.items(), grads)}
    return loss(unrolled, val)


def test_second_order_gradient_matches_finite_differences():
    torch.manual_seed(0)
    model = TinyMixture().double()
    train = (torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,)))
    val = (torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,)))
    lr, wd, momentum = 0.5, 3e-4, 0.9
    weights = {n: p for n, p in model.named_parameters() if n != "alpha_x"}
    buffers = {n: 0.1 * torch.randn_like(p) for n, p in weights.items()}
    (ours,) = unrolled_arch_grads(model, weights, [model.alpha_x], train, val, lr, momentum, wd, buffers)
    h, alpha = 1e-5, model.alpha_x.detach()
    numeric = torch.zeros(3, dtype=torch.float64)
    for i in range(3):
        step = torch.zeros(3, dtype=torch.float64)
        step[i] = h
        plus = _unrolled_val_loss(model, alpha + step, train, val, lr, wd, momentum, buffers)
        minus = _unrolled_val_loss(model, alpha - step, train, val, lr, wd, momentum, buffers)
        numeric[i] = (plus - minus).item() / (2 * h)
    first_order = torch.autograd.grad(_unrolled_val_loss(model, model.alpha_x, train, val, 0.0, 0.0, 0.0, buffers),
                                      model.alpha_x)[0]
    assert (numeric - first_order).abs().max() > 1e-3  # the unrolled term matters here ...
    torch.testing.assert_close(ours, numeric, rtol=1e-4, atol=1e-6)  # ... and we get it right


# --- the loop in process ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    return digits_splits(max_train_samples=96)


def _run(tmp_path: Path, data, trials: int, resume: bool = False) -> OneShotRun:
    return OneShotRun(NB201Space(), data, torch.device("cpu"), 0, HardwareTarget(), Budget(trials, None),
                      TrialLog(tmp_path), {"test": 1}, tmp_path, resume, Console(quiet=True))


SMALL = {"epochs": 3, "batch_size": 16, "channels": 4, "layers": 5, "eval_batch_size": 64}


@pytest.mark.parametrize("space", [NB201Space(), DartsSpace()], ids=["nb201", "darts"])
@pytest.mark.parametrize("cls", [PCDARTS, GDAS])
def test_pcdarts_and_gdas_run_the_shared_loop(tmp_path, digits, cls, space):
    options = {**SMALL, "warmup_epochs": 1} if cls is PCDARTS else SMALL
    strategy = cls(space, seed=0, **options)
    run = _run(tmp_path, digits, trials=2)
    run.space = space
    strategy.search(run)
    rows = run.trials.rows
    assert [r["epoch"] for r in rows] == [1, 2] and run.chosen is rows[-1]
    assert all(0.0 <= r["val_accuracy"] <= 100.0 and 0.0 <= r["skip_share"] <= 1.0 for r in rows)
    history = json.loads((tmp_path / "alphas.json").read_text())["softmax"]
    cells = ["cell"] if space.name == "nb201" else ["normal", "reduce"]
    assert sorted(history) == sorted(cells)
    for cell in cells:
        assert (tmp_path / f"alphas_{cell}.png").is_file()
        assert len(history[cell]) == 2
    if cls is GDAS:
        assert [r["tau"] for r in rows] == pytest.approx([10.0, 5.05])  # linear 10 -> 0.1 over 3 epochs
    else:  # architecture frozen in the warm-up epoch, trained after it
        state = torch.load(tmp_path / CHECKPOINT, weights_only=True)["state"]
        first = torch.tensor(history[cells[0]][0])
        second = torch.tensor(history[cells[0]][1])
        init = torch.softmax(state["supernet"][f"alpha_{cells[0]}"], -1)
        assert not torch.allclose(second, first) and not torch.allclose(init, first)
        assert torch.allclose(first, torch.full_like(first, 1.0 / first.shape[1]), atol=1e-2)


def test_early_stop_on_skip_connections_ends_the_search(tmp_path, digits):
    strategy = DARTS(NB201Space(), seed=0, order="first", early_stop_skip=-1, **SMALL)
    run = _run(tmp_path, digits, trials=3)
    strategy.search(run)
    assert len(run.trials.rows) == 1 and run.chosen is run.trials.rows[0]


def test_split_halves_is_fixed_by_the_seed_and_disjoint(digits):
    a1, b1 = split_halves(digits.train, 0)
    a2, _ = split_halves(digits.train, 0)
    a3, _ = split_halves(digits.train, 1)
    assert torch.equal(a1.images, a2.images) and not torch.equal(a1.images, a3.images)
    assert len(a1) + len(b1) == len(digits.train) and abs(len(a1) - len(b1)) <= 1


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="order"):
        DARTS(NB201Space(), order="third")
    with pytest.raises(ConfigError, match="bf16"):
        DARTS(NB201Space(), order="second", amp="fp16")


# --- end to end -------------------------------------------------------------------------------------

def test_smoke_search_writes_rows_alphas_and_heat_maps(tmp_path):
    run_dir = tmp_path / "smoke"
    result = nas("search", "strategy=darts", "debug=smoke", f"hydra.run.dir={run_dir}", cwd=tmp_path, env=ONE_THREAD)
    assert result.code == 0, result.text
    table = read_trials(run_dir)
    assert [r["epoch"] for r in table] == ["1", "2", "3"]
    assert {"val_accuracy", "train_accuracy", "skip_share", "none_share", "skip_count", "lr"} <= set(table[0])
    report = read_json(run_dir / "report.json")
    assert report["status"] == "completed" and report["strategy"] == "DARTS"
    genotype = read_json(run_dir / "genotype.json")
    assert genotype["arch_str"] == table[-1]["arch_str"] == report["best"]["arch_str"]  # the final derived arch
    for name in ("alphas.json", "alphas.csv", "alphas_cell.png", "alphas_cell_evolution.png", "checkpoint.pt"):
        assert (run_dir / name).is_file(), name
    softmax = json.loads((run_dir / "alphas.json").read_text())["softmax"]["cell"]
    assert len(softmax) == 3 and all(abs(sum(row) - 1) < 1e-5 for row in softmax[-1])


def test_resume_equals_the_uninterrupted_search(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    common = ("search", "strategy=darts", "debug=smoke")  # second order: momentum buffers must resume too
    assert nas(*common, "budget.trials=3", f"hydra.run.dir={full}", cwd=tmp_path, env=ONE_THREAD).code == 0
    assert nas(*common, "budget.trials=2", f"hydra.run.dir={part}", cwd=tmp_path, env=ONE_THREAD).code == 0
    assert len(read_trials(part)) == 2
    resumed = nas(*common, "budget.trials=3", "resume=true", f"hydra.run.dir={part}", cwd=tmp_path, env=ONE_THREAD)
    assert resumed.code == 0, resumed.text
    assert read_trials(part) == read_trials(full)
    assert read_json(part / "genotype.json")["arch"] == read_json(full / "genotype.json")["arch"]
    assert read_json(part / "alphas.json") == read_json(full / "alphas.json")
    state = torch.load(part / CHECKPOINT, weights_only=True)["state"]
    assert state["epoch"] == 3 and state["history"]["cell"].shape == (3, 6, 5)
    assert state["w_opt"]["state"] and state["a_opt"]["state"]  # SGD momentum and Adam moments saved


def test_presets_compose(tmp_path):
    result = nas("search", "experiment=darts_cifar10_search", "--cfg", "job", cwd=tmp_path)
    assert result.code == 0, result.text
    text = result.out
    for expected in ("name: cifar10", "val_fraction: 0.0", "nascli.strategies.darts.DARTS", "order: second",
                     "nascli.spaces.darts.DartsSpace", "trials: 50"):
        assert expected in text, expected
    smoke = nas("search", "strategy=pcdarts", "debug=smoke", "--cfg", "job", "--resolve", cwd=tmp_path)
    assert smoke.code == 0 and "channels: 8" in smoke.out and "warmup_epochs: 1" in smoke.out


def test_bad_strategy_option_is_a_clear_error(tmp_path):
    result = nas("search", "strategy=darts", "debug=smoke", "strategy.order=third", f"hydra.run.dir={tmp_path / 'r'}",
                 cwd=tmp_path, env=ONE_THREAD)
    assert result.code == 2 and "strategy.order" in result.err and "Traceback" not in result.text


def test_default_darts_search_on_digits_improves_on_its_first_epoch(tmp_path):
    """`nas search strategy=darts` as a new user types it: 12 epochs (budget.trials) of second-order
    DARTS (measured: 39 s on 2 cores, supernet validation accuracy 10.0% at epoch 1, 82.6% at 12)."""
    run_dir = tmp_path / "default"
    result = nas("search", "strategy=darts", f"hydra.run.dir={run_dir}", cwd=tmp_path, env=ONE_THREAD, timeout=900)
    assert result.code == 0, result.text
    table = read_trials(run_dir)
    assert float(table[-1]["val_accuracy"]) > float(table[0]["val_accuracy"]) + 20
    assert read_json(run_dir / "genotype.json")["arch_str"] == table[-1]["arch_str"]
