"""The sample-based loop with a stand-in evaluator: budgets, rows, and replay for resume."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from nascli.errors import CheckpointError
from nascli.evaluators.base import Evaluator
from nascli.hardware.target import HardwareTarget
from nascli.search.loop import Budget, replay, run_sample_search
from nascli.search.trials import TrialLog
from nascli.spaces.nb201 import NB201Space
from nascli.strategies.random import RandomSearch


class CountConvs(Evaluator):
    """Scores an architecture by how many 3x3 convolutions it has (no training)."""

    def evaluate(self, arch):
        return {"val_accuracy": 10.0 * sum(op == "nor_conv_3x3" for op in arch), "params_m": 0.1, "flops_m": 1.0, "cost_s": 0.0}


def _search(tmp_path: Path, trials: int, log: TrialLog | None = None, strategy=None) -> TrialLog:
    space = NB201Space()
    log = log or TrialLog(tmp_path)
    strategy = strategy or RandomSearch(space, seed=0)
    run_sample_search(space, strategy, CountConvs(None), HardwareTarget(), Budget(trials=trials), log,
                      on_trial=lambda: None, console=Console(quiet=True))
    return log


def test_rows_follow_the_contract_and_the_budget(tmp_path: Path) -> None:
    log = _search(tmp_path, 7)
    assert [r["trial"] for r in log.rows] == list(range(7))
    assert all(r["objective"] == r["val_accuracy"] and r["status"] == "completed" for r in log.rows)
    assert log.rows[-1]["elapsed_s"] >= log.rows[0]["elapsed_s"]


def test_replay_restores_the_strategy_so_the_search_continues_identically(tmp_path: Path) -> None:
    full = _search(tmp_path / "a", 10)
    part = _search(tmp_path / "b", 4)
    space = NB201Space()
    strategy = RandomSearch(space, seed=0)
    replay(strategy, space, part)
    resumed = _search(tmp_path / "b", 10, log=part, strategy=strategy)
    assert [r["arch_str"] for r in resumed.rows] == [r["arch_str"] for r in full.rows]


def test_replay_with_another_seed_is_refused(tmp_path: Path) -> None:
    part = _search(tmp_path, 3)
    with pytest.raises(CheckpointError, match="does not replay"):
        replay(RandomSearch(NB201Space(), seed=1), NB201Space(), part)


def test_budget_stops_on_whichever_comes_first() -> None:
    assert Budget(trials=3).exhausted(3, 0.0) == "trials"
    assert Budget(seconds=1.0).exhausted(100, 1.5) == "seconds"
    assert Budget(trials=3, seconds=10.0).exhausted(1, 2.0) is None
