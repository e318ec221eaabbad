"""The whole user journey on CPU: search -> retrain -> evaluate -> export, with debug=smoke on digits."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from nasrun import read_json, run


@pytest.mark.slow
def test_retrain_saves_weights_genotype_and_config(smoke_search: Path, smoke_retrain: Path) -> None:
    report = read_json(smoke_retrain / "report.json")
    assert report["status"] == "completed" and report["genotype"] == read_json(smoke_search / "genotype.json")["arch_str"]
    ckpt = torch.load(smoke_retrain / "model.pt", weights_only=True)
    assert ckpt["format"] == "nascli.checkpoint/1"
    assert ckpt["genotype"]["arch_str"] == report["genotype"]
    assert ckpt["config"]["trainer"]["epochs"] == 1 and ckpt["state_dict"]
    with open(smoke_retrain / "metrics.csv") as handle:
        epochs = list(csv.DictReader(handle))
    assert [e["epoch"] for e in epochs] == ["1"] and float(epochs[0]["lr"]) > 0
    assert 0 <= report["test_accuracy"] <= 100 and (smoke_retrain / "training_curves.png").is_file()


def test_evaluate_reports_accuracy_per_class_metrics_and_confusion_matrix(smoke_retrain: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "evaluate"
    result = run("evaluate", "debug=smoke", f"checkpoint={smoke_retrain}", run_dir=run_dir)
    assert result.code == 0, result.text
    report = read_json(run_dir / "report.json")
    assert result.objective == report["test_accuracy"]
    matrix = torch.tensor(report["confusion_matrix"])
    assert matrix.shape == (10, 10) and int(matrix.sum()) == report["test_samples"]
    assert abs(100 * matrix.trace().item() / matrix.sum().item() - report["test_accuracy"]) < 1e-6
    assert len(report["per_class"]) == 10 and {"precision", "recall", "f1", "support"} <= set(report["per_class"][0])
    assert report["params_m"] > 0 and report["flops_m"] > 0 and report["latency_ms"] > 0
    for name in ("confusion_matrix.png", "confusion_matrix.csv", "per_class.csv", "report.md"):
        assert (run_dir / name).is_file()
    assert "per class" in result.out and "confusion matrix" in result.out


@pytest.mark.slow
def test_export_writes_torchscript_and_onnx_that_match_pytorch(smoke_retrain: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "export"
    result = run("export", f"checkpoint={smoke_retrain / 'model.pt'}", "format=all", run_dir=run_dir)
    assert result.code == 0, result.text
    checks = {c["format"]: c for c in read_json(run_dir / "report.json")["exports"]}
    assert result.objective == max(c["max_abs_diff"] for c in checks.values())
    assert checks["torchscript"]["passed"] and checks["onnx"]["passed"]
    assert checks["torchscript"]["max_abs_diff"] < 1e-4
    scripted = torch.jit.load(str(run_dir / "model.torchscript.pt"))
    assert scripted(torch.zeros(3, 1, 8, 8)).shape == (3, 10)  # any batch size works
    assert (run_dir / "model.onnx").is_file() and "Model card" in (run_dir / "MODEL_CARD.md").read_text()


def test_export_rejects_an_unknown_format(smoke_retrain: Path, tmp_path: Path) -> None:
    result = run("export", f"checkpoint={smoke_retrain}", "format=tflite", run_dir=tmp_path / "x")
    assert result.code == 2 and "format must be torchscript, onnx or all" in result.err
