"""`nas search`: the run directory contract, reproducibility, budgets, resume, a kill, and mistakes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nasrun import nas, read_json, read_trials, run

from nascli.genotype_file import load_genotype


def test_search_writes_the_run_directory_contract(smoke_search: Path) -> None:
    for name in ("genotype.json", "trials.csv", "report.json", "report.md", "search_curve.png", "checkpoint.json", "search.log"):
        assert (smoke_search / name).is_file(), name
    assert (smoke_search / ".hydra" / "config.yaml").is_file()
    report = read_json(smoke_search / "report.json")
    assert report["command"] == "search" and report["status"] == "completed"
    assert report["started"] and report["finished"] and report["versions"]["torch"] and report["versions"]["nascli"]
    assert report["trials"] == 3 and report["stopped_by"] == "trials"
    assert report["hardware"] == {"target": "none", "objective": "soft", "cost": "params_m", "limits": {}}
    genotype = read_json(smoke_search / "genotype.json")
    assert genotype["format"] == "nascli.genotype/1" and genotype["search_space"] == "nb201"
    space, arch, _ = load_genotype(str(smoke_search))
    assert space.to_str(arch) == genotype["arch_str"] == report["best"]["arch_str"]
    table = read_trials(smoke_search)
    assert [r["trial"] for r in table] == ["0", "1", "2"]
    assert {"arch_str", "status", "objective", "val_accuracy", "params_m", "flops_m"} <= set(table[0])
    best = max(table, key=lambda r: float(r["objective"]))
    assert best["arch_str"] == genotype["arch_str"]


def test_same_seed_gives_identical_trials_and_genotype(smoke_search: Path, tmp_path: Path) -> None:
    again = run("search", "debug=smoke", run_dir=tmp_path / "again")
    assert again.code == 0, again.text
    assert read_trials(tmp_path / "again") == read_trials(smoke_search)  # in process, as on the command line
    assert read_json(tmp_path / "again" / "genotype.json")["arch"] == read_json(smoke_search / "genotype.json")["arch"]
    assert again.objective == read_json(smoke_search / "report.json")["best"]["objective"]  # what a sweeper reads
    other = run("search", "debug=smoke", "seed=1", run_dir=tmp_path / "other")
    assert other.code == 0
    assert [r["arch_str"] for r in read_trials(tmp_path / "other")] != [r["arch_str"] for r in read_trials(smoke_search)]


def test_budget_in_seconds_stops_the_search(tmp_path: Path) -> None:
    result = run("search", "debug=smoke", "budget.trials=null", "budget.seconds=0.5", run_dir=tmp_path / "timed")
    assert result.code == 0, result.text
    report = read_json(tmp_path / "timed" / "report.json")
    assert report["stopped_by"] == "seconds" and report["trials"] >= 1


@pytest.mark.slow
def test_resume_continues_to_the_uninterrupted_result(tmp_path: Path) -> None:
    full, part = tmp_path / "full", tmp_path / "part"
    assert run("search", "debug=smoke", "budget.trials=4", run_dir=full).code == 0
    assert run("search", "debug=smoke", "budget.trials=2", run_dir=part).code == 0
    resumed = run("search", "debug=smoke", "budget.trials=4", "resume=true", run_dir=part)
    assert resumed.code == 0, resumed.text
    assert read_trials(part) == read_trials(full)
    assert read_json(part / "genotype.json")["arch"] == read_json(full / "genotype.json")["arch"]
    assert read_json(part / "report.json")["resumed"] == {
        "overrides": ["debug=smoke", "budget.trials=4", "resume=true"], "changed": ["budget.trials was 2, is 4"]}
    assert "this command changes budget.trials was 2, is 4." in resumed.out


@pytest.mark.slow
def test_killed_search_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    """A real kill -9 of the command-line process mid-search loses nothing that was written."""
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert run("search", "debug=smoke", "budget.trials=5", run_dir=full).code == 0
    env = {**os.environ, "NASCLI_DATA_DIR": str(tmp_path / "data"), "OMP_NUM_THREADS": "1"}  # as in process
    proc = subprocess.Popen([sys.executable, "-m", "nascli", "search", "debug=smoke", "budget.trials=5",
                             f"hydra.run.dir={killed}"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (killed / "trials.csv").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # atomic writes: every file is whole (a kill mid-write leaves at most a hidden temporary)
    assert read_trials(killed) and read_json(killed / "checkpoint.json")["rows"]
    assert read_json(killed / "report.json")["status"] in ("running", "completed")
    resumed = run("search", "debug=smoke", "budget.trials=5", "resume=true", run_dir=killed)
    assert resumed.code == 0, resumed.text
    assert read_trials(killed) == read_trials(full)
    assert not list(killed.glob(".*.tmp"))  # resuming removes a killed write's temporary


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    assert run("search", "debug=smoke", "budget.trials=1", run_dir=tmp_path / "run").code == 0
    result = run("search", "debug=smoke", "seed=3", "resume=true", run_dir=tmp_path / "run")
    assert result.code == 2 and "other settings (seed was 0, is 3)" in result.err


def test_resume_without_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    result = run("search", "debug=smoke", "resume=true", run_dir=tmp_path / "empty")
    assert result.code == 2 and "no search checkpoint" in result.err


def test_non_numeric_budget_is_a_clear_error(tmp_path: Path) -> None:
    result = run("search", "budget.trials=abc", run_dir=tmp_path / "r")
    assert result.code == 2 and "budget.trials must be an integer" in result.err
    assert read_json(tmp_path / "r" / "report.json")["status"] == "failed"
    result = run("search", "budget.trials=null", run_dir=tmp_path / "none")
    assert result.code == 2 and "needs a budget" in result.err


def test_bad_trainer_value_and_unknown_option_are_clear_errors(tmp_path: Path) -> None:
    epochs = run("search", "trainer.epochs=many", run_dir=tmp_path / "a")
    assert epochs.code == 2 and "trainer.epochs must be an integer" in epochs.err
    option = run("search", "debug=smoke", "+strategy.temperature=2", run_dir=tmp_path / "b")
    assert option.code == 2 and "strategy has no option 'temperature'" in option.err
    assert "max_retries" in option.err  # ... and the options it does have


def test_an_earlier_run_is_never_overwritten(smoke_search: Path) -> None:
    before = (smoke_search / "report.json").read_text()
    result = run("search", "debug=smoke", run_dir=smoke_search)
    assert result.code == 2 and "nothing was overwritten" in result.err
    assert (smoke_search / "report.json").read_text() == before


@pytest.mark.slow
def test_multirun_sweeps_seeds_into_job_directories(tmp_path: Path) -> None:
    """Hydra's multirun through the real command line: one job directory per seed."""
    result = nas("search", "-m", "debug=smoke", "budget.trials=1", "seed=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                 cwd=tmp_path)
    assert result.code == 0, result.text
    for job in ("0", "1"):
        assert read_json(tmp_path / "sweep" / job / "report.json")["seed"] == int(job)


@pytest.mark.slow
def test_a_reward_objective_is_labelled_as_one_with_the_accuracy_beside_it(tmp_path: Path) -> None:
    """hardware=cpu searches by MnasNet's reward, which can exceed 100 beside accuracies in percent:
    the tables head it `reward`, the report says what it is, trials.csv keeps its `objective` column."""
    result = run("search", "debug=smoke", "hardware=cpu", "budget.trials=2", "hardware.repeats=2", run_dir=tmp_path / "r")
    assert result.code == 0, result.text
    header = next(line for line in result.out.splitlines() if "trial" in line and "val_accuracy" in line)
    assert "reward" in header and "objective" not in header
    assert "reward: MnasNet's reward" in result.out
    report = read_json(tmp_path / "r" / "report.json")
    assert report["objective_is"].startswith("MnasNet's reward") and "The objective is MnasNet's reward" in \
        (tmp_path / "r" / "report.md").read_text()
    assert "objective" in (tmp_path / "r" / "trials.csv").read_text().splitlines()[0].split(",")
    plain = run("search", "debug=smoke", "budget.trials=1", run_dir=tmp_path / "p")
    assert "reward:" not in plain.out and "best reward" not in plain.out and "objective_is" not in read_json(tmp_path / "p" / "report.json")
