"""Bad input to retrain/evaluate/export: one clear message, a non-zero exit, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from nasrun import read_json, run


def _fails_clearly(result, *phrases: str) -> None:
    assert result.code == 2, result.text
    assert "Traceback" not in result.text
    for phrase in phrases:
        assert phrase in result.err, result.err


def test_retrain_without_genotype_says_what_is_missing(tmp_path: Path) -> None:
    _fails_clearly(run("retrain", run_dir=tmp_path / "r"), "genotype")


def test_retrain_of_a_missing_genotype(tmp_path: Path) -> None:
    result = run("retrain", f"genotype={tmp_path / 'nowhere'}", run_dir=tmp_path / "r")
    _fails_clearly(result, "No genotype at", "DARTS_V2")


def test_retrain_of_a_corrupt_genotype_json(tmp_path: Path) -> None:
    bad = tmp_path / "genotype.json"
    bad.write_text('{"format": "nascli.genotype/1", "search_space": "nb201", "arch": [')
    _fails_clearly(run("retrain", f"genotype={bad}", run_dir=tmp_path / "r"), "not a readable genotype.json")
    assert bad.read_text().endswith("[")  # the user's file is untouched


def test_retrain_of_a_genotype_from_another_space(smoke_search: Path, tmp_path: Path) -> None:
    record = read_json(smoke_search / "genotype.json")
    record["search_space"] = "darts"
    record.pop("space_config")
    wrong = tmp_path / "genotype.json"
    wrong.write_text(json.dumps(record))
    result = run("retrain", f"genotype={wrong}", run_dir=tmp_path / "r")
    _fails_clearly(result, "not an architecture of the darts space")


def test_retrain_network_override_that_the_space_lacks(smoke_search: Path, tmp_path: Path) -> None:
    result = run("retrain", f"genotype={smoke_search}", "+network.layers=20", run_dir=tmp_path / "r")
    _fails_clearly(result, "network.* keys for the nb201 space are", "cells_per_stage")


def test_evaluate_a_checkpoint_that_is_not_ours(tmp_path: Path) -> None:
    foreign = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    _fails_clearly(run("evaluate", f"checkpoint={foreign}", run_dir=tmp_path / "e"),
                   "not a nascli checkpoint")


def test_evaluate_a_corrupt_checkpoint(tmp_path: Path) -> None:
    broken = tmp_path / "model.pt"
    broken.write_bytes(b"\x80\x04not a checkpoint")
    _fails_clearly(run("evaluate", f"checkpoint={broken}", run_dir=tmp_path / "e"),
                   "not a readable nascli checkpoint")


def test_a_pickled_object_is_not_unpickled(tmp_path: Path) -> None:
    import argparse  # any class outside torch's safe list: weights_only=True must refuse to build it

    torch.save({"format": "nascli.checkpoint/1", "payload": argparse.Namespace(x=1)}, tmp_path / "model.pt")
    _fails_clearly(run("export", f"checkpoint={tmp_path}", run_dir=tmp_path / "x"),
                   "not a readable nascli checkpoint")


def test_missing_dataset_is_one_clear_paragraph(tmp_path: Path) -> None:
    result = run("retrain", "genotype=DARTS_V2", "dataset=cifar10", "dataset.download=false",
                 f"paths.data_dir={tmp_path / 'nodata'}", run_dir=tmp_path / "r")
    _fails_clearly(result, "Dataset 'cifar10' is not in", "nodata", "NASCLI_DATA_DIR", "dataset=digits")
    assert read_json(tmp_path / "r" / "report.json")["status"] == "failed"


def test_evaluate_with_no_threads_to_time_on(tmp_path: Path) -> None:
    _fails_clearly(run("evaluate", f"checkpoint={tmp_path}", "latency.threads=0", run_dir=tmp_path / "e"),
                   "latency.threads must be at least 1")
