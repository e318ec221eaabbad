"""ENAS: a debug run on digits records one row per epoch with the controller's baseline, and
resumes (supernet, controller, its optimiser and generator) to the uninterrupted rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from nasrun import read_json, read_trials, run

SMALL = ("search", "strategy=enas", "debug=smoke", "trainer.epochs=2", "search_space.cells_per_stage=1",
         "strategy.controller_steps=2",
         "strategy.aggregate=3", "strategy.derive_samples=3", "strategy.recalibration_batches=2", "plots=false")



@pytest.fixture(scope="module")
def enas_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("enas") / "full"
    result = run(*SMALL, run_dir=run_dir)
    assert result.code == 0, result.text
    return run_dir


def test_debug_run_records_one_row_per_epoch(enas_run: Path) -> None:
    table = read_trials(enas_run)
    assert [r["epoch"] for r in table] == ["1", "2"]
    assert all(float(r["baseline"]) > 0 and 0 <= float(r["mean_reward"]) <= 100 for r in table)
    assert read_json(enas_run / "genotype.json")["arch_str"] == table[-1]["arch_str"]
    assert read_json(enas_run / "report.json")["stopped_by"] == "schedule"


def test_interrupted_enas_resumes_to_the_same_rows(enas_run: Path, tmp_path: Path) -> None:
    part = tmp_path / "part"
    assert run(*SMALL, "budget.trials=1", run_dir=part).code == 0
    assert len(read_trials(part)) == 1
    resumed = run(*SMALL, "budget=schedule", "resume=true", run_dir=part)  # continued, now to the schedule's end
    assert resumed.code == 0, resumed.text
    assert read_trials(part) == read_trials(enas_run)
