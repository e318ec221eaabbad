"""The trial log: best row, curve, columns, and the checkpoint that refuses other settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from nascli.errors import CheckpointError
from nascli.search.trials import BASE_COLUMNS, TrialLog


def _log(tmp_path: Path) -> TrialLog:
    log = TrialLog(tmp_path)
    for value in (50.0, None, 70.0, 70.0, 60.0):
        log.add({"arch_str": f"a{len(log)}", "objective": value, "val_accuracy": value or 0.0, "elapsed_s": len(log)})
    return log


def test_best_is_the_earliest_highest_objective(tmp_path: Path) -> None:
    log = _log(tmp_path)
    assert log.best()["trial"] == 2
    assert log.curve() == [50.0, 50.0, 70.0, 70.0, 70.0]


def test_best_of_a_lower_is_better_objective_is_the_earliest_lowest(tmp_path: Path) -> None:
    log = TrialLog(tmp_path)
    for value in (130.0, None, 95.0, 95.0, 110.0):
        log.add({"arch_str": f"a{len(log)}", "objective": value, "val_perplexity": value, "elapsed_s": len(log)})
    assert log.best(metric="val_perplexity")["trial"] == 2
    assert log.best(log.rows[3:], "val_perplexity")["trial"] == 3
    assert log.curve("val_perplexity") == [130.0, 130.0, 95.0, 95.0, 95.0]


def test_extra_metrics_become_extra_columns(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.add({"arch_str": "z", "objective": 1.0, "zc_synflow": 3.0, "elapsed_s": 9})
    assert log.columns[: len(BASE_COLUMNS)] == BASE_COLUMNS and log.columns[-1] == "zc_synflow"


def test_checkpoint_round_trip_and_fingerprint_check(tmp_path: Path) -> None:
    _log(tmp_path).save({"seed": 0})
    again = TrialLog(tmp_path)
    again.load({"seed": 0})
    assert len(again) == 5 and again.elapsed_s == 4
    with pytest.raises(CheckpointError, match=r"other settings \(seed was 0, is 1\)"):
        TrialLog(tmp_path).load({"seed": 1})
    (tmp_path / "checkpoint.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not a readable"):
        TrialLog(tmp_path).load({"seed": 0})
