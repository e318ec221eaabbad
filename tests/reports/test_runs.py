"""Reading runs: what a run that did not complete recorded (failed, interrupted, never finished), and
the directories that hold no run at all: an empty folder, a folder with runs further down, a sweep
stopped before its first job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nascli.errors import NasError
from nascli.reports.runs import find_runs, read_run

STARTED = "2026-12-03T09:00:00+00:00"


def write_run(path: Path, trials_csv: str | None = None, **report: object) -> Path:
    """A run directory as nascli.runner leaves it: report.json (and a search's trials.csv)."""
    path.mkdir(parents=True)
    (path / "report.json").write_text(json.dumps({"argv": ["debug=smoke"], "started": STARTED, **report}))
    if trials_csv is not None:
        (path / "trials.csv").write_text(trials_csv)
    return path


def test_an_interrupted_search_counts_the_trials_it_wrote_and_says_how_to_continue(tmp_path: Path) -> None:
    path = write_run(tmp_path / "s", "trial,arch_str,objective\n0,|a|,10.0\n1,\"|b,c|\",11.0\n", command="search",
                     status="interrupted", finished="2026-12-03T09:00:04+00:00",
                     error="interrupted by the user (Ctrl-C)")
    run = read_run(path, "s", None)
    assert run.reason == "interrupted by the user (Ctrl-C); resume=true continues it"
    assert run.trials == 2 and run.metrics == {}  # no `best` yet: nothing to rank it by


@pytest.mark.parametrize("command, report", [
    ("search", {"status": "running", "finished": None}),  # killed: the runner's last write never came
    ("evaluate", {"status": "running"}),  # evaluate has no resume
    ("retrain", {"status": "interrupted"}),  # a report with no `finished` never finished, whatever it says
])
def test_a_run_that_never_finished_says_so(tmp_path: Path, command: str, report: dict) -> None:
    run = read_run(write_run(tmp_path / "r", command=command, **report), "r", None)
    assert run.reason.startswith("never finished: still running, or stopped without a word (killed, out of memory)")
    assert run.reason.endswith("; resume=true continues it") == (command != "evaluate")
    assert run.wall_s is None


def test_odd_values_in_a_report_are_left_out_not_trusted(tmp_path: Path) -> None:
    path = write_run(tmp_path / "r", command="search", status=None, finished="yesterday", trials=True,
                     best={"objective": 10**400, "val_accuracy": "high", "params_m": 0.5})
    run = read_run(path, "r", None)
    assert (run.status, run.wall_s, run.trials) == ("?", None, None)
    assert run.metrics == {"params_m": 0.5}


def test_a_folder_of_no_run_says_what_it_holds(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NasError, match=r"empty: not a run directory .*; it holds no run\.$"):
        find_runs([tmp_path / "empty"])
    write_run(tmp_path / "outputs" / "2026-12-03" / "09-00-00", command="search", status="completed")
    with pytest.raises(NasError, match=r"it holds 1 run\(s\) further down, such as .*outputs/2026-12-03/09-00-00: "
                                       r"give those, e\.g\. `nas report .*outputs/\*/\*`\.$"):
        find_runs([tmp_path / "outputs"])


def test_a_sweep_stopped_before_its_first_job_is_nothing_to_report(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    (sweep / ".lock").touch()
    with pytest.raises(NasError, match="a multirun folder with no job in it: the sweep was stopped before its first "
                                       "job started"):
        find_runs([sweep])
    (sweep / "0").mkdir()  # ... and one killed before its job wrote anything is a run that left nothing
    (run,) = find_runs([sweep])
    assert (run.name, run.status) == ("sweep/0", "missing") and "no report.json" in run.reason
