"""Reliability of every command: a diverging training ends the run as failed with its reason and
keeps what came before; a full disk or unwritable run directory is one clear error; a run
directory in use by a live process is refused to a second one (resume included)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from nasrun import read_json, run

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
