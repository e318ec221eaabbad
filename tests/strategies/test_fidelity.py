"""Multi-fidelity strategies: Hyperband's brackets, successive halving's promotions worked by hand,
BOHB's model, fidelity in trials.csv, resume, and the evaluators that cannot train for less."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from nasrun import read_json, read_trials, run
from rich.console import Console

from nascli.errors import ConfigError
from nascli.evaluators.base import EvalContext, Evaluator
from nascli.hardware.target import target_option
from nascli.runtime.config import build_option
from nascli.runtime.run_report import RunReport
from nascli.search.budget import Budget
from nascli.search.engine import SearchEngine, SearchRun
from nascli.strategies.base import SearchContext
from nascli.strategies.bohb import CategoricalKDE
from nascli.strategies.fidelity import Rung, bracket, hyperband

SPACE = build_option("search_space", "nb201", {"channels": 4, "cells_per_stage": 1})


# --- the schedule --------------------------------------------------------------------------------
def test_hyperband_brackets_are_the_papers_table() -> None:
    """Li et al. (2018), Table 1: R = 81, eta = 3 (n_i candidates at r_i epochs)."""
    table = [[(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
             [(34, 3), (11, 9), (3, 27), (1, 81)],
             [(15, 9), (5, 27), (1, 81)],
             [(8, 27), (2, 81)],
             [(5, 81)]]
    assert hyperband(1, 81, 3) == [[Rung(n, r) for n, r in rungs] for rungs in table]


@pytest.mark.parametrize(("low", "high", "eta"), [(1, 27, 3), (1, 8, 2), (2, 16, 2), (1, 100, 4)])
def test_hyperband_follows_the_formula(low: int, high: int, eta: int) -> None:
    s_max = int(math.log(high / low, eta) + 1e-9)
    brackets = hyperband(low, high, eta)
    assert len(brackets) == s_max + 1
    for rungs, s in zip(brackets, reversed(range(s_max + 1))):
        n = math.ceil((s_max + 1) / (s + 1) * eta**s)
        assert rungs[0].size == n and rungs[-1].fidelity == high
        assert [r.size for r in rungs] == [n // eta**i for i in range(s + 1)]
        assert [r.fidelity for r in rungs] == [max(low, int(high * eta ** (i - s) + 0.5)) if i < s else high
                                               for i in range(s + 1)]
        assert sum(r.size * r.fidelity for r in rungs) <= (s + 1) * n * high / eta**s * 1.5  # ~ (s+1) R per bracket


def test_a_bracket_stops_where_no_candidate_is_left() -> None:
    assert bracket(3, 4, 8, 2) == [Rung(4, 1), Rung(2, 2), Rung(1, 4)]  # 4 // 8 = 0: no last rung


# --- successive halving, by hand -----------------------------------------------------------------
SCORES = {0: {1: 50.0, 2: 60.0, 4: 70.0},   # accuracy of the n-th candidate seen, after 1, 2 and 4 epochs
          1: {1: 55.0, 2: 58.0, 4: 57.0},
          2: {1: 40.0, 2: 80.0, 4: 85.0},   # a late bloomer: successive halving drops it at once
          3: {1: 52.0, 2: 54.0, 4: 56.0}}


class ByHand(Evaluator):
    """Scores from SCORES by the order candidates first arrive; counts every call."""

    def __init__(self, context: EvalContext) -> None:
        super().__init__(context)
        self.order: dict = {}
        self.calls: list[tuple[int, int]] = []

    def max_fidelity(self) -> int:
        return 4

    def known_cost(self, arch) -> dict[str, float]:
        return {"params_m": 0.0, "flops_m": 0.0}

    def evaluate(self, arch, fidelity=None):
        index = self.order.setdefault(arch, len(self.order))
        self.calls.append((index, fidelity))
        return {"val_accuracy": SCORES[index % 4][fidelity] - 10 * (index // 4), "cost_s": 0.0}


def engine(tmp_path: Path, name: str, trials: int, **options) -> tuple[SearchEngine, ByHand]:
    strategy = build_option("strategy", name, options, space=SPACE, seed=0)
    evaluator = ByHand(EvalContext(SPACE, 0, "cpu", None, lambda: None))
    return SearchEngine(SPACE, strategy, evaluator, target_option("none"), Budget(trials, None),
                        SearchContext("cpu", lambda: None, max_fidelity=evaluator.max_fidelity()),
                        SearchRun(tmp_path, {"name": name}, Console(quiet=True), plots=False)), evaluator


def test_successive_halving_promotes_the_best_half_each_rung(tmp_path: Path) -> None:
    search, evaluator = engine(tmp_path, "sh", 7, min_fidelity=1, eta=2)
    best = search.finish(search.run(), RunReport(tmp_path, "search", []))
    # rung 0: four candidates, 1 epoch (55 and 52 best); rung 1: those two, 2 epochs (58 beats 54);
    # rung 2: candidate 1, 4 epochs
    assert evaluator.calls == [(0, 1), (1, 1), (2, 1), (3, 1), (1, 2), (3, 2), (1, 4)]
    rows = read_trials(tmp_path)
    assert [int(r["fidelity"]) for r in rows] == [1, 1, 1, 1, 2, 2, 4]
    assert [int(r["rung"]) for r in rows] == [0, 0, 0, 0, 1, 1, 2]
    # the result is compared at the highest fidelity reached: 57 after 4 epochs, not 58 after 2
    assert best["trial"] == 6 and best["val_accuracy"] == 57.0 and best["fidelity"] == 4
    assert read_json(tmp_path / "brackets.json")["schedule"] == [
        {"bracket": 0, "rung": 0, "candidates": 4, "epochs": 1}, {"bracket": 0, "rung": 1, "candidates": 2, "epochs": 2},
        {"bracket": 0, "rung": 2, "candidates": 1, "epochs": 4}]


def test_brackets_repeat_with_new_candidates_until_the_budget_ends(tmp_path: Path) -> None:
    search, evaluator = engine(tmp_path, "sh", 9, min_fidelity=1, eta=2)
    search.run()
    assert evaluator.calls[7:] == [(4, 1), (5, 1)]  # a second bracket of new candidates


def test_hyperband_runs_its_brackets_in_turn(tmp_path: Path) -> None:
    search, evaluator = engine(tmp_path, "hyperband", 14, min_fidelity=1, eta=2)
    search.run()
    # R = 4, eta = 2: brackets 4x1 -> 2x2 -> 1x4, then 3x2 -> 1x4, then 3x4
    assert [f for _, f in evaluator.calls] == [1, 1, 1, 1, 2, 2, 4, 2, 2, 2, 4, 4, 4, 4]


def test_a_candidate_that_failed_is_never_promoted(tmp_path: Path) -> None:
    search, evaluator = engine(tmp_path, "sh", 6, min_fidelity=1, eta=2)
    real = evaluator.evaluate
    evaluator.evaluate = lambda arch, fidelity=None: {**real(arch, fidelity), **(
        {"val_accuracy": math.nan} if evaluator.order.get(arch) == 1 else {})}
    search.run()
    assert (1, 2) not in evaluator.calls and (0, 2) in evaluator.calls  # 55 failed: 52 and 50 go on


# --- BOHB ----------------------------------------------------------------------------------------
def test_kernel_density_is_highest_at_its_points_and_never_below_uniform_bandwidth() -> None:
    points = [[0, 1, 2], [0, 1, 3], [0, 2, 2]]
    kde = CategoricalKDE(points, [2, 4, 5], min_bandwidth=1e-3)
    assert kde.bandwidth[0] == pytest.approx(1e-3)  # every point agrees on gene 0
    assert all(0 < bw <= (c - 1) / c for bw, c in zip(kde.bandwidth, [2, 4, 5]))
    assert kde.log_density([0, 1, 2]) > kde.log_density([1, 3, 0])
    total = sum(math.exp(kde.log_density([a, b, c])) for a in range(2) for b in range(4) for c in range(5))
    assert total == pytest.approx(1.0)  # a density over the 40 gene vectors
    rng = random.Random(0)
    assert sum(kde.sample(rng, 1.0)[0] != 0 for _ in range(200)) <= 3  # a gene all points agree on stays put
    assert sum(kde.sample(rng, 1.0)[1] == 2 for _ in range(300)) > 60  # where they differ, samples differ


def conv_count(arch) -> float:
    """A task where 3x3 convolutions help and pooling hurts."""
    return 60.0 + 5.0 * arch.count("nor_conv_3x3") - 2.0 * arch.count("avg_pool_3x3")


def test_bohb_draws_better_candidates_from_its_model_than_uniform() -> None:
    bohb = build_option("strategy", "bohb", {"random_fraction": 0.0}, space=SPACE, seed=0)
    bohb.setup(SearchContext("cpu", lambda: None, max_fidelity=9))
    drawn = []
    for _ in range(150):
        proposal = bohb.propose()
        bohb.tell(proposal.arch, conv_count(proposal.arch) + proposal.fidelity)
        if proposal.columns["rung"] == 0:
            drawn.append((bohb.modelled, conv_count(proposal.arch)))
    modelled = [score for i, (count, score) in enumerate(drawn) if i and count > drawn[i - 1][0]]
    uniform = [conv_count(SPACE.sample(random.Random(i))) for i in range(200)]
    assert len(modelled) > 20 and sum(modelled) / len(modelled) > sum(uniform) / len(uniform) + 3


# --- through the CLI -----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", ["sh", "hyperband", "bohb"])
def test_a_debug_search_writes_fidelity_and_resumes_to_the_uninterrupted_rows(name: str, tmp_path: Path) -> None:
    common = ("search", f"strategy={name}", "debug=smoke", "plots=false")
    whole = run(*common, "budget.trials=5", run_dir=tmp_path / "whole")
    assert whole.code == 0, whole.text
    part = run(*common, "budget.trials=3", run_dir=tmp_path / "part")
    resumed = run(*common, "budget.trials=5", "resume=true", run_dir=tmp_path / "part")
    assert part.code == 0 and resumed.code == 0, resumed.text
    keep = ("arch_str", "fidelity", "bracket", "rung", "val_accuracy")
    rows = [{k: r[k] for k in keep} for r in read_trials(tmp_path / "whole")]
    assert [{k: r[k] for k in keep} for r in read_trials(tmp_path / "part")] == rows
    assert {r["fidelity"] for r in rows} == {"1", "2"}
    report = read_json(tmp_path / "whole" / "report.json")
    assert report["best"]["fidelity"] == 2
    assert "Multi-fidelity schedule" in (tmp_path / "whole" / "report.md").read_text()


def test_an_evaluator_with_one_fidelity_is_refused(tmp_path: Path) -> None:
    result = run("search", "strategy=hyperband", "evaluator=tabular", "evaluator.table=nb201", "dataset=cifar10",
                 run_dir=tmp_path)
    assert result.code == 2 and "needs an evaluator that can (evaluator=train)" in result.err


def test_bad_schedules_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="eta must be at least 2"):
        build_option("strategy", "sh", {"eta": 1}, space=SPACE, seed=0)
    with pytest.raises(ConfigError, match="min_fidelity"):
        build_option("strategy", "hyperband", {"min_fidelity": 4, "max_fidelity": 2}, space=SPACE, seed=0)
