"""`nas search`: run directory contents, reproducibility, budgets, resume and config mistakes."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nasrun import nas, read_json

from nascli.genotype import load_genotype

VOLATILE = {"cost_s", "elapsed_s"}  # wall-clock columns; everything else must repeat exactly


def rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "trials.csv") as handle:
        return [{k: v for k, v in row.items() if k not in VOLATILE} for row in csv.DictReader(handle)]


def test_search_writes_the_run_directory_contract(smoke_search: Path) -> None:
    for name in ("genotype.json", "trials.csv", "report.json", "report.md", "search_curve.png", "checkpoint.json", "search.log"):
        assert (smoke_search / name).is_file(), name
    assert (smoke_search / ".hydra" / "config.yaml").is_file()
    report = read_json(smoke_search / "report.json")
    assert report["command"] == "search" and report["status"] == "completed"
    assert report["started"] and report["finished"] and report["versions"]["torch"] and report["versions"]["nascli"]
    assert report["trials"] == 3 and report["stopped_by"] == "trials"
    genotype = read_json(smoke_search / "genotype.json")
    assert genotype["format"] == "nascli.genotype/1" and genotype["search_space"] == "nb201"
    space, arch, _ = load_genotype(str(smoke_search))
    assert space.to_str(arch) == genotype["arch_str"] == report["best"]["arch_str"]
    table = rows(smoke_search)
    assert [r["trial"] for r in table] == ["0", "1", "2"]
    assert {"arch_str", "status", "objective", "val_accuracy", "params_m", "flops_m"} <= set(table[0])
    best = max(table, key=lambda r: float(r["objective"]))
    assert best["arch_str"] == genotype["arch_str"]


def test_same_seed_gives_identical_trials_and_genotype(smoke_search: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert nas("search", "debug=smoke", f"hydra.run.dir={again}", cwd=tmp_path).code == 0
    assert rows(again) == rows(smoke_search)
    assert read_json(again / "genotype.json")["arch"] == read_json(smoke_search / "genotype.json")["arch"]
    other = tmp_path / "other"
    assert nas("search", "debug=smoke", "seed=1", f"hydra.run.dir={other}", cwd=tmp_path).code == 0
    assert [r["arch_str"] for r in rows(other)] != [r["arch_str"] for r in rows(smoke_search)]


def test_budget_in_seconds_stops_the_search(tmp_path: Path) -> None:
    run_dir = tmp_path / "timed"
    result = nas("search", "debug=smoke", "budget.trials=null", "budget.seconds=0.5", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.code == 0, result.text
    report = read_json(run_dir / "report.json")
    assert report["stopped_by"] == "seconds" and report["trials"] >= 1


def test_resume_continues_to_the_uninterrupted_result(tmp_path: Path) -> None:
    full, part = tmp_path / "full", tmp_path / "part"
    assert nas("search", "debug=smoke", "budget.trials=4", f"hydra.run.dir={full}", cwd=tmp_path).code == 0
    assert nas("search", "debug=smoke", "budget.trials=2", f"hydra.run.dir={part}", cwd=tmp_path).code == 0
    resumed = nas("search", "debug=smoke", "budget.trials=4", "resume=true", f"hydra.run.dir={part}", cwd=tmp_path)
    assert resumed.code == 0, resumed.text
    assert rows(part) == rows(full)
    assert read_json(part / "genotype.json")["arch"] == read_json(full / "genotype.json")["arch"]
    assert read_json(part / "report.json")["resumed"] is True


def test_killed_search_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert nas("search", "debug=smoke", "budget.trials=5", f"hydra.run.dir={full}", cwd=tmp_path).code == 0
    env = {**os.environ, "NASCLI_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen([sys.executable, "-m", "nascli", "search", "debug=smoke", "budget.trials=5",
                             f"hydra.run.dir={killed}"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (killed / "trials.csv").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (killed / "trials.csv").exists()
    assert not list(killed.glob(".*.tmp"))  # atomic writes leave no partial files behind
    assert read_json(killed / "report.json")["status"] in ("running", "completed")
    resumed = nas("search", "debug=smoke", "budget.trials=5", "resume=true", f"hydra.run.dir={killed}", cwd=tmp_path)
    assert resumed.code == 0, resumed.text
    assert rows(killed) == rows(full)


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert nas("search", "debug=smoke", "budget.trials=1", f"hydra.run.dir={run_dir}", cwd=tmp_path).code == 0
    result = nas("search", "debug=smoke", "seed=3", "resume=true", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.code == 2 and "different seed" in result.err and "Traceback" not in result.text


def test_resume_without_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    result = nas("search", "debug=smoke", "resume=true", f"hydra.run.dir={tmp_path / 'empty'}", cwd=tmp_path)
    assert result.code == 2 and "no search checkpoint" in result.err


def test_non_numeric_budget_is_a_clear_error(tmp_path: Path) -> None:
    result = nas("search", "budget.trials=abc", f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path)
    assert result.code == 2
    assert "budget.trials must be an integer" in result.err and "Traceback" not in result.text
    assert read_json(tmp_path / "r" / "report.json")["status"] == "failed"


def test_bad_trainer_value_and_unknown_option_are_clear_errors(tmp_path: Path) -> None:
    epochs = nas("search", "trainer.epochs=many", f"hydra.run.dir={tmp_path / 'a'}", cwd=tmp_path)
    assert epochs.code == 2 and "trainer.epochs must be an integer" in epochs.err
    option = nas("search", "debug=smoke", "+strategy.temperature=2", f"hydra.run.dir={tmp_path / 'b'}", cwd=tmp_path)
    assert option.code == 2 and "strategy" in option.err and "temperature" in option.err
    assert "Traceback" not in epochs.text + option.text


def test_an_earlier_run_is_never_overwritten(smoke_search: Path) -> None:
    before = (smoke_search / "report.json").read_text()
    result = nas("search", "debug=smoke", f"hydra.run.dir={smoke_search}", cwd=smoke_search.parent)
    assert result.code == 2 and "nothing was overwritten" in result.err
    assert (smoke_search / "report.json").read_text() == before


def test_multirun_sweeps_seeds_into_job_directories(tmp_path: Path) -> None:
    result = nas("search", "-m", "debug=smoke", "budget.trials=1", "seed=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    assert result.code == 0, result.text
    for job in ("0", "1"):
        assert read_json(tmp_path / "sweep" / job / "report.json")["seed"] == int(job)
