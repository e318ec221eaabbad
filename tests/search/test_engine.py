"""The search engine with a stand-in evaluator: budgets, rows, the files it writes, failed and
infeasible candidates, and resume by replay."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from configured import CPU, hardware, space, strategy
from nasrun import read_json
from rich.console import Console

from nascli.errors import CheckpointError, ConfigError, DivergedError
from nascli.evaluators.base import EvalContext, Evaluator
from nascli.runtime.run_report import RunReport
from nascli.search.budget import Budget
from nascli.search.engine import SearchEngine, SearchRun
from nascli.search.resume import replay
from nascli.strategies.base import SearchContext

SPACE = space("nb201")


def no_data():
    raise AssertionError("a sample-based search scored by a stand-in evaluator loaded the dataset")


class CountConvs(Evaluator):
    """Scores an architecture by how many 3x3 convolutions it has (no training), with 0.1 M
    parameters per convolution; optionally NaN (a failed training) for none, or slowly."""

    def __init__(self, nan_for_none: bool = False, seconds: float = 0.0) -> None:
        super().__init__(EvalContext(SPACE, 0, CPU, None, no_data))
        self.nan_for_none, self.seconds = nan_for_none, seconds

    def known_cost(self, arch):
        """Like a benchmark table, it knows the cost without evaluating."""
        return {"params_m": 0.1 * sum(op == "nor_conv_3x3" for op in arch), "flops_m": 1.0}

    def evaluate(self, arch, fidelity=None):
        time.sleep(self.seconds)
        convs = sum(op == "nor_conv_3x3" for op in arch)
        return {"val_accuracy": 10.0 * convs if convs or not self.nan_for_none else math.nan,
                **self.known_cost(arch), "cost_s": 0.0}


def _engine(run_dir: Path, trials: int | None, seconds: float | None = None, strategy_=None, evaluator=None,
            limits: dict | None = None, fingerprint: dict | None = None) -> SearchEngine:
    return SearchEngine(SPACE, strategy_ or strategy("random", SPACE, seed=0),
                        evaluator or CountConvs(),
                        hardware("none", **(limits or {})), Budget(trials, seconds), SearchContext(CPU, no_data),
                        SearchRun(run_dir, fingerprint or {"seed": 0}, Console(quiet=True), plots=False))


def _search(run_dir: Path, trials: int, resume: bool = False, **options) -> SearchEngine:
    engine = _engine(run_dir, trials, **options)
    assert engine.run(resume=resume) == "trials"
    return engine


def test_rows_follow_the_contract_and_the_budget(tmp_path: Path) -> None:
    rows = _search(tmp_path, 7).trials.rows
    assert [r["trial"] for r in rows] == list(range(7))
    assert all(r["objective"] == r["val_accuracy"] and r["status"] == "completed" for r in rows)
    assert rows[-1]["elapsed_s"] >= rows[0]["elapsed_s"]


def test_every_trial_is_checkpointed_and_finish_writes_the_result(tmp_path: Path) -> None:
    searcher, checkpointed = strategy("random", SPACE, seed=0), []
    propose = searcher.propose

    def watched_propose():  # what a search killed now would resume from
        path = tmp_path / "checkpoint.json"
        checkpointed.append(len(read_json(path)["rows"]) if path.exists() else 0)
        return propose()

    searcher.propose = watched_propose
    engine = _search(tmp_path, 5, strategy_=searcher)
    assert checkpointed == [0, 1, 2, 3, 4] and len(read_json(tmp_path / "checkpoint.json")["rows"]) == 5
    assert (tmp_path / "trials.csv").read_text().count("\n") == 6  # header and one line per trial
    report = RunReport(tmp_path, "search", [])
    best = engine.finish("trials", report)
    assert best is engine.trials.best()
    assert read_json(tmp_path / "genotype.json")["arch_str"] == best["arch_str"]
    assert report.results["best"]["arch_str"] == best["arch_str"] and report.results["stopped_by"] == "trials"
    assert report.results["trials"] == 5 and not (tmp_path / "search_curve.png").exists()  # plots=False


def test_failed_and_infeasible_candidates_are_recorded_without_an_objective(tmp_path: Path) -> None:
    rows = _search(tmp_path, 30, evaluator=CountConvs(nan_for_none=True), limits={"max_params_m": 0.25}).trials.rows
    for row in rows:
        convs = round(row["params_m"] / 0.1)
        expected = "failed" if convs == 0 else "infeasible" if convs > 2 else "completed"
        assert row["status"] == expected and (row["objective"] is None) == (expected != "completed")
    assert {r["status"] for r in rows} == {"failed", "infeasible", "completed"}


def test_resume_replays_the_strategy_so_the_search_continues_identically(tmp_path: Path) -> None:
    full = _search(tmp_path / "full", 10).trials.rows
    _search(tmp_path / "part", 4)
    resumed = _search(tmp_path / "part", 10, resume=True).trials.rows
    assert [r["arch_str"] for r in resumed] == [r["arch_str"] for r in full]
    assert [r["trial"] for r in resumed] == list(range(10))


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    _search(tmp_path, 3)
    with pytest.raises(CheckpointError, match=r"other settings \(seed was 0, is 1\)"):
        _engine(tmp_path, 5, fingerprint={"seed": 1}).run(resume=True)


def test_replay_with_another_seed_is_refused(tmp_path: Path) -> None:
    part = _search(tmp_path, 3).trials.rows
    with pytest.raises(CheckpointError, match="does not replay"):
        replay(strategy("random", SPACE, seed=1), SPACE, part)


def test_budget_stops_on_whichever_comes_first() -> None:
    assert Budget(3, None).exhausted(3, 0.0) == "trials"
    assert Budget(None, 1.0).exhausted(100, 1.5) == "seconds"
    assert Budget(3, 10.0).exhausted(1, 2.0) is None
    with pytest.raises(ConfigError, match="needs a budget"):
        Budget(None, None).check("random", schedule=None)
    Budget(None, None).check("darts", schedule=50)  # a schedule of its own ends the search


def test_a_budget_shorter_than_a_schedule_is_said_and_a_longer_one_is_not() -> None:
    assert "budget.trials=12 cuts the schedule of darts (50 epochs) after 12 of its 50 steps" in Budget(12, None).cuts(
        "darts", 50, 0, "50 epochs")
    assert Budget(50, None).cuts("darts", 50, 0, "50 epochs") is None
    assert Budget(None, None).cuts("darts", 50, 0, "50 epochs") is None
    assert "may end the schedule" in Budget(None, 60.0).cuts("darts", 50, 0, "50 epochs")
    assert Budget(12, None).cuts("random", None, 0, "no schedule") is None
    assert Budget(3, None).cuts("darts", 3, 3, "3 epochs") is None  # a resumed search whose schedule is done


def test_seconds_budget_stops_the_search(tmp_path: Path) -> None:
    engine = _engine(tmp_path, None, seconds=0.05, evaluator=CountConvs(seconds=0.01))
    assert engine.run(resume=False) == "seconds" and 1 <= len(engine.trials) <= 5  # 0.01 s or more per trial


class DivergesWithoutConvs(CountConvs):
    """CountConvs whose training diverges (DivergedError) for an architecture without a 3x3 convolution."""

    def evaluate(self, arch, fidelity=None):
        if not any(op == "nor_conv_3x3" for op in arch):
            raise DivergedError("The training loss became nan in epoch 2 of 3 (learning rate 0.1); ...")
        return super().evaluate(arch, fidelity)


def test_a_diverging_candidate_is_skipped_and_the_search_goes_on(tmp_path: Path) -> None:
    rows = _search(tmp_path / "full", 30, evaluator=DivergesWithoutConvs()).trials.rows
    diverged = [r for r in rows if r["status"] == "diverged"]
    assert diverged and len(rows) == 30  # each spent a trial of the budget, and the search went on after it
    assert all(r["objective"] is None and "loss became nan" in r["error"] for r in diverged)
    assert all(r["status"] == "completed" and r["objective"] > 0 for r in rows if r not in diverged)
    assert "error" in (tmp_path / "full" / "trials.csv").read_text().splitlines()[0]
    # a resumed search replays a diverged row as a failure, like the uninterrupted one was told
    _search(tmp_path / "part", 12, evaluator=DivergesWithoutConvs())
    resumed = _search(tmp_path / "part", 30, resume=True, evaluator=DivergesWithoutConvs()).trials.rows
    assert [(r["arch_str"], r["status"]) for r in resumed] == [(r["arch_str"], r["status"]) for r in rows]
