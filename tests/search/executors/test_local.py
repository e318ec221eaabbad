"""search.executor=local: worker processes that each evaluate one candidate at a time; one killed
mid-candidate loses only that candidate, which runs again (search.retries), then is recorded failed."""

from __future__ import annotations

from pathlib import Path

import pytest
from configured import CPU, hardware, space, strategy
from lost_workers import KillsItsWorker
from rich.console import Console

from nascli.evaluators.base import EvalContext
from nascli.runtime.config import option_node, plain
from nascli.search.budget import Budget
from nascli.search.engine import SearchEngine, SearchRun
from nascli.search.executors.local import LocalProcesses, death
from nascli.search.executors.worker import Recipe
from nascli.strategies.base import SearchContext

NB201 = space("nb201")


def no_data():
    raise AssertionError("the stand-in evaluator loaded a dataset")


def first_two() -> tuple[str, str]:
    """The first two candidates random proposes with seed 0 on NB201."""
    searcher = strategy("random", NB201, seed=0)
    return NB201.to_str(searcher.propose().arch), NB201.to_str(searcher.propose().arch)


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> tuple[SearchEngine, Path, str, str]:
    """random on NB201 with two local workers and search.retries=1: the first candidate's worker
    dies once (it runs again), the second's every time (recorded failed after its retry); each
    killed worker is replaced by a new process."""
    run_dir = tmp_path_factory.mktemp("killed")
    once, always = first_two()
    options = {"marker": str(run_dir / "died"), "dies_once": once, "dies_always": always, "seconds": 0.1}
    recipe = Recipe(NB201, 0, "cpu", 1, {"_target_": "lost_workers.KillsItsWorker", **options},
                    plain(option_node("trainer", "proxy")), plain(option_node("dataset", "digits")))
    here = KillsItsWorker(EvalContext(NB201, 0, CPU, None, no_data), **options)  # the engine's, for known costs
    engine = SearchEngine(NB201, strategy("random", NB201, seed=0), here, hardware("none"), Budget(4, None),
                          SearchContext(CPU, no_data),
                          SearchRun(run_dir, {}, Console(quiet=True), plots=False, retries=1,
                                    executor=LocalProcesses(recipe, 2, run_dir)))
    assert engine.run() == "trials"
    return engine, run_dir, once, always


@pytest.mark.slow  # starts two Python processes that import torch, and three more in place of the killed
def test_a_killed_worker_loses_only_its_candidate(killed) -> None:
    engine, run_dir, once, always = killed
    rows = engine.trials.rows
    assert len(rows) == 4 and len({r["arch_str"] for r in rows}) == 4  # none evaluated twice, the budget kept
    by_arch = {r["arch_str"]: r for r in rows}
    assert by_arch[once]["status"] == "completed" and by_arch[once]["proposed"] == 0  # retried, then scored
    assert by_arch[always]["status"] == "failed" and by_arch[always]["objective"] is None
    assert "lost 2 time(s)" in by_arch[always]["error"] and "SIGKILL" in by_arch[always]["error"]
    assert sum(r["status"] == "completed" for r in rows) == 3  # the search went on
    assert {r["worker"] for r in rows} == {0, 1}
    assert [r["finished_s"] for r in rows] == sorted(r["finished_s"] for r in rows)  # completion order
    assert all(0 <= r["started_s"] <= r["finished_s"] for r in rows)


def test_how_a_worker_died_is_said_in_words() -> None:
    assert "SIGKILL" in death(-9) and "out-of-memory" in death(-9)
    assert death(1) == "its worker process exited with status 1"
