"""Kill and resume of nas retrain: a run killed (SIGKILL) after an epoch continues from its last
checkpoint to the weights an uninterrupted run ends with, bit for bit; a finished run resumed only
reports; a checkpoint of other settings is refused."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from nasrun import read_json, run

# DARTS cells with drop path, cutout and the auxiliary head: every kind of state a resume must restore
OVERRIDES = ["debug=smoke", "genotype=DARTS_V2", "trainer.epochs=4", "trainer.drop_path=0.2", "trainer.cutout=2",
             "+network.auxiliary=true", "trainer.auxiliary_weight=0.4", "plots=false"]


def _epochs_written(run_dir: Path) -> int:
    try:
        with open(run_dir / "metrics.csv") as handle:
            return len(list(csv.DictReader(handle)))
    except (OSError, csv.Error):
        return 0


def _kill_after_first_epoch(run_dir: Path, cwd: Path) -> None:
    env = {**os.environ, "COLUMNS": "200", "NASCLI_DATA_DIR": str(cwd / "data"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nascli", "retrain", *OVERRIDES, f"hydra.run.dir={run_dir}"],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _epochs_written(run_dir) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_a_killed_retrain_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path: Path) -> None:
    killed = tmp_path / "killed"
    _kill_after_first_epoch(killed, tmp_path)
    report = read_json(killed / "report.json")
    assert report["status"] == "running", "the run finished before it was killed"
    done = torch.load(killed / "model.pt", weights_only=True)["epoch"]
    assert 1 <= done < 4

    resumed = run("retrain", *OVERRIDES, "resume=true", run_dir=killed)
    assert resumed.code == 0, resumed.text
    assert f"after epoch {done} of 4" in resumed.out
    whole = run("retrain", *OVERRIDES, run_dir=tmp_path / "whole")
    assert resumed.objective == whole.objective

    final = [torch.load(d / "model.pt", weights_only=True) for d in (killed, tmp_path / "whole")]
    assert final[0]["state_dict"].keys() == final[1]["state_dict"].keys()
    assert all(torch.equal(final[0]["state_dict"][k], v) for k, v in final[1]["state_dict"].items())
    assert "resume" not in final[0]  # a finished checkpoint keeps weights and results only
    rows = [[{k: v for k, v in r.items() if k != "epoch_s"} for r in csv.DictReader(open(d / "metrics.csv"))]
            for d in (killed, tmp_path / "whole")]
    assert rows[0] == rows[1] and len(rows[0]) == 4
    assert read_json(killed / "report.json")["resumed_after_epoch"] == done

    again = run("retrain", *OVERRIDES, "resume=true", run_dir=killed)  # finished: only reports
    assert again.code == 0 and "is complete (4 epochs)" in again.out and again.objective == whole.objective
    reports = [read_json(d / "report.json") for d in (killed, tmp_path / "whole")]
    assert reports[0]["test_accuracy"] == reports[1]["test_accuracy"]


def test_resuming_with_other_settings_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    first = ["debug=smoke", "genotype=DARTS_V2", "trainer.epochs=1"]
    assert run("retrain", *first, run_dir=run_dir).code == 0
    result = run("retrain", *first, "trainer.lr=0.1", "resume=true", run_dir=run_dir)
    assert result.code == 2 and "other settings (trainer.lr was 0.05, is 0.1)" in result.err
    again = run("retrain", *first, run_dir=run_dir)
    assert again.code == 2 and "resume=true" in again.err  # never overwritten by accident
