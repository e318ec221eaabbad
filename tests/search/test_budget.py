"""A one-shot strategy runs its own schedule whole unless the user sets a budget for it; a budget that
cuts the schedule is said before the search starts and recorded in the report."""

from __future__ import annotations

from pathlib import Path

import pytest
from nasrun import compose, nas, read_json, read_trials, run

ONE_SHOT = ("darts", "pcdarts", "gdas", "spos", "enas")


@pytest.mark.parametrize("name", ONE_SHOT)
def test_a_one_shot_strategy_runs_its_whole_schedule_under_the_default_budget(name: str, tmp_path: Path) -> None:
    cfg = compose("search", f"strategy={name}", "debug=smoke")
    assert cfg.budget.trials is None and cfg.budget.seconds is None
    schedule = cfg.trainer.epochs + cfg.strategy.get("subnets", 0)  # the trainer's epochs (debug=smoke: 1)
    result = run("search", f"strategy={name}", "debug=smoke", "plots=false", run_dir=tmp_path / name)
    assert result.code == 0, result.text
    assert len(read_trials(tmp_path / name)) == schedule
    report = read_json(tmp_path / name / "report.json")
    assert report["stopped_by"] == "schedule"
    assert report["schedule"] == {"steps": schedule, "what": report["schedule"]["what"], "done": schedule,
                                  "cut_by": None}
    assert "cuts the schedule" not in result.out and "Schedule cut short" not in (tmp_path / name / "report.md").read_text()


def test_spos_reaches_its_evolution_phase_and_picks_its_result_there(tmp_path: Path) -> None:
    result = run("search", "strategy=spos", "debug=smoke", "plots=false", run_dir=tmp_path / "spos")
    assert result.code == 0, result.text
    rows = read_trials(tmp_path / "spos")
    assert [r["phase"] for r in rows] == ["supernet"] + ["evolution"] * 6
    evolved = max(rows[1:], key=lambda r: float(r["objective"]))
    report = read_json(tmp_path / "spos" / "report.json")
    assert report["best"]["trial"] == int(evolved["trial"]) and report["schedule"]["what"] == \
        "1 supernet epoch, then 6 subnets"


@pytest.mark.slow
def test_more_epochs_on_the_command_line_run_them_all(tmp_path: Path) -> None:
    """The new user's try from the issue: strategy.epochs=6 (now trainer.epochs=6) wrote 3 rows (the smoke budget's)."""
    result = run("search", "strategy=darts", "debug=smoke", "trainer.epochs=6", "strategy.order=first", "plots=false",
                 run_dir=tmp_path / "six")
    assert result.code == 0, result.text
    assert [r["epoch"] for r in read_trials(tmp_path / "six")] == [str(e) for e in range(1, 7)]


@pytest.mark.slow
def test_a_budget_shorter_than_the_schedule_is_said_first_and_recorded(tmp_path: Path) -> None:
    result = run("search", "strategy=darts", "debug=smoke", "trainer.epochs=3", "budget.trials=2", "plots=false",
                 run_dir=tmp_path / "cut")
    assert result.code == 0, result.text
    note = "budget.trials=2 cuts the schedule of darts (3 epochs) after 2 of its 3 steps"
    assert note in result.out and result.out.index(note) < result.out.index("Top ")  # before the search, not after
    assert len(read_trials(tmp_path / "cut")) == 2
    report = read_json(tmp_path / "cut" / "report.json")
    assert report["stopped_by"] == "trials"
    assert report["schedule"] == {"steps": 3, "what": "3 epochs", "done": 2, "cut_by": "budget.trials"}
    assert "was cut by budget.trials after 2 of its 3 steps" in (tmp_path / "cut" / "report.md").read_text()


def test_a_sample_based_strategy_keeps_its_default_budget_and_needs_one() -> None:
    assert compose("search").budget.trials == 12 and compose("search", "debug=smoke").budget.trials == 3
    assert compose("search", "strategy=darts", "budget=default").budget.trials == 12  # chosen, so it cuts


def test_no_budget_and_no_schedule_is_a_clear_error(tmp_path: Path) -> None:
    result = run("search", "budget=schedule", run_dir=tmp_path / "endless")
    assert result.code == 2 and "strategy random has no schedule of its own" in result.err


@pytest.mark.parametrize("preset", ["darts_cifar10_search", "darts_digits"])
def test_every_published_protocol_runs_whole(preset: str) -> None:
    cfg = compose("search", f"experiment={preset}")
    assert cfg.budget.trials is None and cfg.budget.seconds is None


def test_the_cfg_of_the_projects_command_shows_a_budget_of_all_50_epochs(tmp_path: Path) -> None:
    result = nas("search", "strategy=darts", "dataset=cifar10", "--cfg", "job", cwd=tmp_path)
    assert result.code == 0, result.text
    shown = result.out
    budget = shown[shown.index("budget:"):].splitlines()[1:3]
    assert [line.strip() for line in budget] == ["trials: null", "seconds: null"]
    assert "epochs: 50" in shown
