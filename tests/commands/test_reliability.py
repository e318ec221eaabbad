"""Reliability of every command: a diverging training ends the run as failed with its reason and
keeps what came before; a full disk or unwritable run directory is one clear error; a run
directory in use by a live process is refused to a second one (resume included)."""

from __future__ import annotations

import csv
import errno
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from nasrun import nas, read_json, read_trials, run

from nascli.runtime import files
from nascli.training import loop


def test_a_diverging_retrain_fails_with_its_reason(tmp_path: Path) -> None:
    """The issue's repro: this exited 0, status completed, with nan losses in metrics.csv."""
    result = run("retrain", "genotype=DARTS_V2", "debug=smoke", "trainer.lr=1e30", run_dir=tmp_path / "r")
    assert result.code == 3, result.text
    assert "training loss became nan in epoch 1 of 1" in result.err and "Lower trainer.lr" in result.err
    report = read_json(tmp_path / "r" / "report.json")
    assert report["status"] == "failed" and "loss became nan" in report["error"] and report["finished"]


def test_a_retrain_diverging_in_a_later_epoch_keeps_the_epochs_before(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    epochs = iter(range(100))
    train_epoch = loop._train_epoch

    def second_epoch_diverges(*args):
        loss, acc = train_epoch(*args)
        return (math.inf, acc) if next(epochs) == 1 else (loss, acc)

    monkeypatch.setattr(loop, "_train_epoch", second_epoch_diverges)
    result = run("retrain", "genotype=DARTS_V2", "debug=smoke", "trainer.epochs=3", "plots=false",
                 run_dir=tmp_path / "r")
    assert result.code == 3 and "loss became inf in epoch 2 of 3" in result.err, result.text
    with open(tmp_path / "r" / "metrics.csv") as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1"]
    assert torch.load(tmp_path / "r" / "model.pt", weights_only=True)["epoch"] == 1  # the last good checkpoint
    assert read_json(tmp_path / "r" / "report.json")["status"] == "failed"


def _hold_lock(run_dir: Path) -> subprocess.Popen:
    """Another process holding `run_dir` as a running command does (RunLock), until killed."""
    code = ("import sys, time; from nascli.runtime.lock import RunLock\n"
            "with RunLock(sys.argv[1], 'search'):\n    print('held', flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_resume_of_a_run_in_use_is_refused_and_a_killed_holder_blocks_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert run("search", "debug=smoke", "budget.trials=1", run_dir=run_dir).code == 0
    holder = _hold_lock(run_dir)
    try:
        second = run("search", "debug=smoke", "budget.trials=2", "resume=true", run_dir=run_dir)
        assert second.code == 2, second.text
        assert f"{run_dir} is in use by another nas process (pid {holder.pid}, nas search" in second.err
        assert len(read_trials(run_dir)) == 1 and read_json(run_dir / "report.json")["status"] == "completed"
    finally:
        holder.send_signal(signal.SIGKILL)  # the kernel drops a killed process's flock: no stale lock
        holder.wait()
    resumed = run("search", "debug=smoke", "budget.trials=2", "resume=true", run_dir=run_dir)
    assert resumed.code == 0, resumed.text
    assert len(read_trials(run_dir)) == 2


@pytest.mark.slow
def test_two_searches_started_together_in_one_directory_never_share_it(tmp_path: Path) -> None:
    """What two `nas search` started in the same second with the default run directory do."""
    env = {**os.environ, "NASCLI_DATA_DIR": str(tmp_path / "data"), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    run_dir = tmp_path / "same"
    procs = [subprocess.Popen([sys.executable, "-m", "nascli", "search", "debug=smoke", f"seed={seed}",
                               f"hydra.run.dir={run_dir}"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for seed in (0, 1)]
    done = [(proc.wait(timeout=120), proc.stderr.read()) for proc in procs]
    codes = sorted(code for code, _ in done)
    assert codes == [0, 2], done
    refused = next(err for code, err in done if code == 2)
    assert "is in use by another nas process" in refused or "already holds the results" in refused
    assert read_json(run_dir / "genotype.json") and read_json(run_dir / "report.json")["status"] == "completed"
    # refused before Hydra wrote: .hydra/ and the log are the winner's alone
    winner = next(seed for seed, (code, _) in zip((0, 1), done) if code == 0)
    assert f"seed: {winner}\n" in (run_dir / ".hydra" / "config.yaml").read_text()
    assert "is in use" not in (run_dir / "search.log").read_text()


def test_a_sweep_folder_in_use_is_refused_before_any_job_runs(tmp_path: Path) -> None:
    holder = _hold_lock(tmp_path / "sweep")
    try:
        result = nas("search", "-m", "debug=smoke", "seed=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert result.code == 2 and f"{tmp_path / 'sweep'} is in use by another nas process" in result.err, result.text
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir()) == [".lock"]


def test_a_disk_filling_up_mid_search_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC after a few atomic writes (a real full disk cannot be made here): exit 74, the path and
    the cause said once, no traceback, and every file written before stays whole."""
    fsync, writes = files.os.fsync, iter(range(1000))

    def fills_up(fd: int) -> None:
        if next(writes) >= 6:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fsync(fd)

    monkeypatch.setattr(files.os, "fsync", fills_up)
    result = run("search", "debug=smoke", "budget.trials=4", run_dir=tmp_path / "full")
    assert result.code == 74, result.text
    assert result.err.count("No space left on device [ENOSPC]") == 1 and f"Cannot write {tmp_path}/full/" in result.err
    assert read_json(tmp_path / "full" / "report.json")["status"] == "running"  # the last whole report
    assert read_trials(tmp_path / "full") and not list((tmp_path / "full").glob(".*.tmp"))


def test_an_unwritable_run_directory_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args, **kwargs):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(files.tempfile, "mkstemp", denied)  # what chmod 0o500 does to a user other than root
    result = run("retrain", "genotype=DARTS_V2", "debug=smoke", run_dir=tmp_path / "ro")
    assert result.code == 74, result.text
    assert f"Cannot write {tmp_path}/ro/report.json: Permission denied [EACCES]" in result.err


def test_a_diverging_one_shot_search_fails_and_keeps_its_last_good_epoch(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from nascli.search.resume import STATE_FILE
    from nascli.strategies.darts import DARTS

    train_epoch = DARTS.train_epoch

    def second_epoch_diverges(self, epoch: int) -> dict[str, float]:
        stats = train_epoch(self, epoch)
        return {**stats, "train_loss": math.nan} if epoch == 1 else stats

    monkeypatch.setattr(DARTS, "train_epoch", second_epoch_diverges)
    run_dir = tmp_path / "darts"
    result = run("search", "strategy=darts", "debug=smoke", "trainer.epochs=3", "search_space.cells_per_stage=1",
                 "plots=false", run_dir=run_dir)
    assert result.code == 3, result.text
    assert "supernet's train loss became nan in epoch 2 of strategy darts" in result.err
    assert "Lower trainer.lr (now 0.025) or strategy.arch_optimizer.lr" in result.err
    assert [row["epoch"] for row in read_trials(run_dir)] == ["1"]
    saved = torch.load(run_dir / STATE_FILE, weights_only=True)
    assert len(saved["rows"]) == 1  # the checkpoint of epoch 1, from which a lower lr could start again
    assert read_json(run_dir / "report.json")["status"] == "failed"


def test_a_read_only_run_directory_for_real_is_exit_74_before_hydra_writes(tmp_path: Path) -> None:
    """chmod 0o500, through the command line; root drops its capabilities (setpriv) so that the
    permission holds for it too."""
    drop = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"] if os.geteuid() == 0 else []
    if drop and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only directory cannot be made")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    env = {**os.environ, "NASCLI_DATA_DIR": str(tmp_path / "data"), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    try:
        proc = subprocess.run([*drop, sys.executable, "-m", "nascli", "search", "debug=smoke",
                               f"hydra.run.dir={read_only}"], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
    finally:
        read_only.chmod(0o700)
    assert proc.returncode == 74, proc.stderr
    assert f"Cannot write {read_only}/.lock: Permission denied [EACCES]" in proc.stderr
    assert "Traceback" not in proc.stderr and not list(read_only.iterdir())


def test_a_search_skips_candidates_whose_training_diverges(tmp_path: Path) -> None:
    """A joint search where half the learning rates blow up: those trials are `diverged` with the
    reason and no objective, and the search goes on to a result among the others."""
    result = run("search", "debug=smoke", "hparams=training", "search_space.hparams={lr:[0.05,1e30]}",
                 "budget.trials=6", "plots=false", run_dir=tmp_path / "joint")
    assert result.code == 0, result.text
    rows = read_trials(tmp_path / "joint")
    diverged = [row for row in rows if row["hp_lr"] == "1e+30"]
    assert diverged and len(diverged) < len(rows) == 6
    for row in diverged:
        assert row["status"] == "diverged" and row["objective"] == ""
        assert row["error"] == "The training loss became nan in epoch 1 of 1 (learning rate 1e+30)"
    assert all(row["status"] == "completed" for row in rows if row not in diverged)
    assert read_json(tmp_path / "joint" / "genotype.json")["hparams"]["lr"] == 0.05


def test_a_second_sweep_into_a_finished_sweep_folder_is_refused(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("hydra: {}\n")  # what a finished `nas search -m` leaves
    result = nas("search", "-m", "debug=smoke", "seed=0,1", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.code == 2 and f"{sweep} already holds an earlier sweep" in result.err, result.text
    assert (sweep / "multirun.yaml").read_text() == "hydra: {}\n" and not (sweep / "0").exists()
