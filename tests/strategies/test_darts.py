"""Gradient-based search (DARTS, PC-DARTS, GDAS): the second-order gradient, the shared bilevel loop
run by the search engine in process, and `nas search strategy=darts` end to end (smoke run, resume,
presets, the default search)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from configured import CPU, dataset, hardware, search_trainer, space, strategy
from nasrun import compose, read_json, read_trials, run
from rich.console import Console
from torch import nn

from nascli.errors import ConfigError
from nascli.evaluators.base import EvalContext, Evaluator
from nascli.runtime.run_report import RunReport
from nascli.search.budget import Budget
from nascli.search.engine import SearchEngine, SearchRun
from nascli.search.resume import STATE_FILE
from nascli.strategies.base import SearchContext
from nascli.strategies.bilevel import unrolled_arch_grads
from nascli.weight_sharing.batches import split_halves



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


# --- the loop, run by the engine in process -----------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    return dataset("digits", max_train_samples=96)


class NeverCalled(Evaluator):
    """One-shot strategies measure their own candidates: the evaluator must not be asked."""

    def evaluate(self, arch, fidelity=None):
        raise AssertionError("the engine asked the evaluator to score a one-shot proposal")


def _search(run_dir: Path, searched, strategy_, data, trials: int):
    """(engine, what stopped it, the result row) of a finished search of `trials` epochs."""
    context = EvalContext(searched, 0, CPU, None, lambda: data)
    engine = SearchEngine(searched, strategy_, NeverCalled(context), hardware("none"), Budget(trials, None),
                          SearchContext(CPU, lambda: data), SearchRun(run_dir, {"test": 1}, Console(quiet=True)))
    stopped_by = engine.run(resume=False)
    return engine, stopped_by, engine.finish(stopped_by, RunReport(run_dir, "search", []))


SMALL = {"epochs": 3, "batch_size": 16, "eval_batch_size": 64}  # the trainer's; the supernet is the space's size
SPACES = {"nb201": {"channels": 4, "cells_per_stage": 1}, "darts": {"channels": 4, "layers": 5}}


@pytest.mark.slow
@pytest.mark.parametrize("space_name", ["nb201", "darts"])
@pytest.mark.parametrize("name", ["pcdarts", "gdas"])
def test_pcdarts_and_gdas_run_the_shared_loop(tmp_path, digits, name, space_name):
    searched = space(space_name, **SPACES[space_name])
    options = {"warmup_epochs": 1} if name == "pcdarts" else {}
    searcher = strategy(name, searched, seed=0, trainer=search_trainer(name, **SMALL), **options)
    engine, stopped_by, best = _search(tmp_path, searched, searcher, digits, 2)
    rows = engine.trials.rows
    assert stopped_by == "trials" and [r["epoch"] for r in rows] == [1, 2] and best is rows[-1]
    assert all(0.0 <= r["val_accuracy"] <= 100.0 and 0.0 <= r["skip_share"] <= 1.0 for r in rows)
    assert read_json(tmp_path / "genotype.json")["arch_str"] == rows[-1]["arch_str"]
    history = json.loads((tmp_path / "alphas.json").read_text())["softmax"]
    cells = ["cell"] if space_name == "nb201" else ["normal", "reduce"]
    assert sorted(history) == sorted(cells)
    for cell in cells:
        assert (tmp_path / f"alphas_{cell}.png").is_file()
        assert len(history[cell]) == 2
    if name == "gdas":
        assert [r["tau"] for r in rows] == pytest.approx([10.0, 5.05])  # linear 10 -> 0.1 over 3 epochs
    else:  # architecture frozen in the warm-up epoch, trained after it
        state = torch.load(tmp_path / STATE_FILE, weights_only=True)["state"]
        first = torch.tensor(history[cells[0]][0])
        second = torch.tensor(history[cells[0]][1])
        final = torch.softmax(state["supernet"][f"alpha_{cells[0]}"], -1)
        assert not torch.allclose(second, first) and not torch.allclose(final, first)
        assert torch.allclose(first, torch.full_like(first, 1.0 / first.shape[1]), atol=1e-2)


def test_early_stop_on_skip_connections_ends_the_search(tmp_path, digits):
    searched = space("nb201", **SPACES["nb201"])
    darts = strategy("darts", searched, seed=0, trainer=search_trainer("darts", **SMALL), order="first",
                     early_stop_skip=-1)
    engine, stopped_by, best = _search(tmp_path, searched, darts, digits, 3)
    assert stopped_by == "early_stop_skip"
    assert len(engine.trials.rows) == 1 and best is engine.trials.rows[0]


def test_split_halves_is_fixed_by_the_seed_and_disjoint(digits):
    a1, b1 = split_halves(digits.train, 0)
    a2, _ = split_halves(digits.train, 0)
    a3, _ = split_halves(digits.train, 1)
    assert torch.equal(a1.images, a2.images) and not torch.equal(a1.images, a3.images)
    assert len(a1) + len(b1) == len(digits.train) and abs(len(a1) - len(b1)) <= 1


def test_bad_options_are_config_errors(digits):
    with pytest.raises(ConfigError, match="order"):
        strategy("darts", space("nb201"), order="third")
    second_fp16 = strategy("darts", space("nb201"), trainer=search_trainer("darts", amp="fp16"), order="second")
    with pytest.raises(ConfigError, match="trainer.amp=fp16.*second-order.*bf16"):
        second_fp16.setup(SearchContext(CPU, lambda: digits))
    with pytest.raises(ConfigError, match="trainer.accumulate=2 cannot apply.*bilevel step"):
        strategy("pcdarts", space("nb201"), trainer=search_trainer("pcdarts", accumulate=2)).setup(
            SearchContext(CPU, lambda: digits))
    with pytest.raises(ConfigError, match="trainer.cutout=16 does not apply to a one-shot search"):
        strategy("darts", space("nb201"), trainer=search_trainer("darts", cutout=16))
    negative = strategy("darts", space("nb201", channels=4, cells_per_stage=1),
                        arch_optimizer={"_target_": "torch.optim.Adam", "lr": -1.0})
    with pytest.raises(ConfigError, match=r"strategy.arch_optimizer \(torch.optim.Adam\) cannot be built: Invalid lear"):
        negative.setup(SearchContext(CPU, lambda: digits))


def test_an_unknown_key_inside_arch_optimizer_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"strategy.arch_optimizer has no option 'lrr' \(did you mean 'lr'\?\)"):
        strategy("darts", space("nb201"), arch_optimizer={"_target_": "torch.optim.Adam", "_partial_": True,
                                                           "lrr": 0.1})
    result = run(*SMOKE, "+strategy.arch_optimizer.momentum=0.9", run_dir=tmp_path / "r")
    assert result.code == 2 and "strategy.arch_optimizer has no option 'momentum'" in result.err, result.text
    assert "Traceback" not in result.text
    result = run(*SMOKE, "strategy.arch_optimizer.lr=fast", run_dir=tmp_path / "s")
    assert result.code == 2 and "strategy.arch_optimizer.lr must be a number" in result.err, result.text


def test_the_architecture_optimiser_is_the_partial_the_yaml_names(digits):
    searched = space("nb201", channels=4, cells_per_stage=1)
    pc = strategy("pcdarts", searched, trainer=search_trainer("pcdarts", **SMALL))
    pc.setup(SearchContext(CPU, lambda: digits))
    (group,) = pc.a_opt.param_groups
    assert isinstance(pc.a_opt, torch.optim.Adam) and not group["capturable"]
    assert (group["lr"], tuple(group["betas"]), group["weight_decay"]) == (6e-4, (0.5, 0.999), 1e-3)
    other = strategy("darts", searched, trainer=search_trainer("darts", **SMALL),  # strategy.arch_optimizer._target_=...
                     arch_optimizer={"_target_": "torch.optim.AdamW", "lr": 0.1})
    other.setup(SearchContext(CPU, lambda: digits))
    assert isinstance(other.a_opt, torch.optim.AdamW) and other.a_opt.param_groups[0]["lr"] == 0.1
    weights = pc.w_opt.param_groups[0]  # the search's trainer: trainer=pcdarts_search's recipe, resized
    assert (weights["lr"], weights["momentum"], weights["weight_decay"], pc.trainer.batch_size) == (0.1, 0.9, 3e-4, 16)


# --- end to end -------------------------------------------------------------------------------------
# second order: momentum buffers must resume too; 3 epochs (debug=smoke trains 1) of a 5-cell supernet
SMOKE = ("search", "strategy=darts", "debug=smoke", "trainer.epochs=3", "search_space.cells_per_stage=1")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`nas search strategy=darts debug=smoke`: its whole (smoke) schedule, 3 epochs of a small supernet."""
    run_dir = tmp_path_factory.mktemp("darts") / "smoke"
    result = run(*SMOKE, run_dir=run_dir)
    assert result.code == 0, result.text
    return run_dir


@pytest.mark.slow
def test_smoke_search_writes_rows_alphas_and_heat_maps(smoke: Path):
    table = read_trials(smoke)
    assert [r["epoch"] for r in table] == ["1", "2", "3"]
    assert {"val_accuracy", "train_accuracy", "skip_share", "none_share", "skip_count", "lr"} <= set(table[0])
    report = read_json(smoke / "report.json")
    assert report["status"] == "completed" and report["strategy"] == "DARTS"
    assert report["images_per_s"] > 0 and report["compile"] == "none"  # the search's speed, and how it ran
    assert report["speed"] == {"amp": "none", "channels_last": True, "compile": "none", "optimizer_step": "loop",
                               "cuda_graphs": False}  # trainer=darts_search's switches, auto resolved for the CPU
    genotype = read_json(smoke / "genotype.json")
    assert genotype["arch_str"] == table[-1]["arch_str"] == report["best"]["arch_str"]  # the final derived arch
    for name in ("alphas.json", "alphas.csv", "alphas_cell.png", "alphas_cell_evolution.png", STATE_FILE):
        assert (smoke / name).is_file(), name
    softmax = json.loads((smoke / "alphas.json").read_text())["softmax"]["cell"]
    assert len(softmax) == 3 and all(abs(sum(row) - 1) < 1e-5 for row in softmax[-1])


@pytest.mark.slow
def test_resume_equals_the_uninterrupted_search(smoke: Path, tmp_path: Path):
    part = tmp_path / "part"
    assert run(*SMOKE, "budget.trials=2", run_dir=part).code == 0
    assert len(read_trials(part)) == 2
    resumed = run(*SMOKE, "budget.trials=3", "resume=true", run_dir=part)
    assert resumed.code == 0, resumed.text
    assert read_trials(part) == read_trials(smoke)
    assert read_json(part / "genotype.json")["arch"] == read_json(smoke / "genotype.json")["arch"]
    assert read_json(part / "alphas.json") == read_json(smoke / "alphas.json")
    state = torch.load(part / STATE_FILE, weights_only=True)["state"]
    assert state["epoch"] == 3 and state["history"]["cell"].shape == (3, 6, 5)
    assert state["w_opt"]["state"] and state["a_opt"]["state"]  # SGD momentum and Adam moments saved


def test_presets_compose():
    cfg = compose("search", "experiment=darts_cifar10_search")
    assert cfg.dataset.name == "cifar10" and cfg.dataset.val_fraction == 0.0
    assert cfg.strategy._target_ == "nascli.strategies.darts.DARTS" and cfg.strategy.order == "second"
    assert cfg.search_space._target_ == "nascli.spaces.darts.DartsSpace" and cfg.trainer.epochs == 50
    assert (cfg.search_space.channels, cfg.search_space.layers, cfg.trainer.batch_size) == (16, 8, 64)  # the paper's
    assert cfg.budget.trials is None and cfg.budget.seconds is None  # the published protocol runs whole
    digits = compose("search", "experiment=darts_digits")
    assert (digits.search_space.channels, digits.search_space.layers, digits.trainer.epochs) == (8, 5, 12)
    smoke = compose("search", "strategy=pcdarts", "debug=smoke")
    assert smoke.strategy._target_ == "nascli.strategies.darts.PCDARTS"
    assert smoke.strategy.warmup_epochs == 0 and smoke.trainer.epochs == 1  # the architecture trains in its epoch
    assert (smoke.trainer.batch_size, smoke.trainer.lr) == (64, 0.1)  # debug=smoke shrinks pcdarts_search's batch


def test_bad_strategy_option_is_a_clear_error(tmp_path):
    result = run(*SMOKE, "strategy.order=third", run_dir=tmp_path / "r")
    assert result.code == 2 and "strategy.order" in result.err and "Traceback" not in result.text


@pytest.mark.slow
def test_a_darts_search_cut_by_the_users_budget_says_so_and_still_improves(tmp_path):
    """`nas search strategy=darts budget.trials=8` on digits: 8 of the 50 epochs of DARTS (first order,
    500 training images: 10 s in process on one thread), said before the search starts and recorded in
    the report; the supernet's validation accuracy went from 9.2% at epoch 1 to 39.6% at 8."""
    run_dir = tmp_path / "cut"
    result = run("search", "strategy=darts", "budget.trials=8", "strategy.order=first", "dataset.max_train_samples=500",
                 run_dir=run_dir)
    assert result.code == 0, result.text
    assert "budget.trials=8 cuts the schedule of darts (50 epochs) after 8 of its 50 steps" in result.out
    table = read_trials(run_dir)
    assert len(table) == 8
    assert float(table[-1]["val_accuracy"]) > float(table[0]["val_accuracy"]) + 20
    assert read_json(run_dir / "genotype.json")["arch_str"] == table[-1]["arch_str"]
    assert read_json(run_dir / "report.json")["schedule"] == {"steps": 50, "what": "50 epochs", "done": 8,
                                                               "cut_by": "budget.trials"}
    assert "Schedule cut short" in (run_dir / "report.md").read_text()
