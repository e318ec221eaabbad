"""nas evaluate: the bootstrap interval of test accuracy in the report, and latency from the
configured hardware target (a latency table, this CPU with the target's settings, or latency.*)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from nasrun import read_json, run

from nascli.checkpoint import build_model, load_checkpoint
from nascli.hardware.latency_table import LatencyTable, overhead_key


def test_the_report_gives_a_bootstrap_interval_around_test_accuracy(smoke_retrain: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "evaluate"
    result = run("evaluate", "debug=smoke", f"checkpoint={smoke_retrain}", "bootstrap.samples=2000",
                 run_dir=run_dir)
    assert result.code == 0, result.text
    report = read_json(run_dir / "report.json")
    acc, low, high = report["test_accuracy"], report["test_accuracy_ci_low"], report["test_accuracy_ci_high"]
    assert 0 <= low <= acc <= high <= 100
    n, p = report["test_samples"], acc / 100
    half = 1.96 * 100 * math.sqrt(p * (1 - p) / n)  # the interval of a proportion: width as the normal's
    assert high - low == pytest.approx(2 * half, abs=2 * 100 / n)
    assert report["macro_f1_ci_low"] <= report["macro_f1"] <= report["macro_f1_ci_high"]
    assert report["bootstrap"] == {"samples": 2000, "confidence": 0.95, "seed": 0,
                                   "method": "percentile bootstrap over test examples"}
    assert "test_accuracy_ci_low" in result.out and "test_accuracy_ci_low" in (run_dir / "report.md").read_text()
    # the default target: timed on the evaluation device with latency.* settings, as before
    assert report["latency_target"] == "latency.* settings" and report["hardware"]["target"] == "none"


def _table_for(smoke_retrain: Path, path: Path) -> float:
    """A latency table with a distinct made-up latency for every piece of the checkpoint's network
    space (as `nas latency-table` would write it); returns the estimate for the checkpoint's arch."""
    ckpt, where = load_checkpoint(str(smoke_retrain))
    space, arch, _ = build_model(ckpt, str(where))
    data = ckpt["data"]
    shape = (data["num_classes"], data["in_channels"], data["input_size"])
    keys = sorted({unit.key for unit in space.cost_units(*shape)})
    latency = {key: 0.01 * (i + 1) for i, key in enumerate(keys)} | {overhead_key(space.name, shape): 0.5}
    rows = [{"key": key, "latency_ms": ms, "iqr_ms": 0.0, "input_shape": "table"} for key, ms in latency.items()]
    table = LatencyTable(latency, {"space": space.name, "device": "made-up device", "torch": torch.__version__,
                                   "threads": 1, "batch_size": 1}, rows=rows)
    table.save(path)
    return table.estimate(space, arch, shape)


def test_hardware_lut_gives_the_tables_latency_for_the_architecture(smoke_retrain: Path, tmp_path: Path) -> None:
    expected = _table_for(smoke_retrain, tmp_path / "latency_table.csv")
    run_dir = tmp_path / "evaluate"
    result = run("evaluate", "debug=smoke", f"checkpoint={smoke_retrain}", "hardware=lut",
                 f"hardware.table={tmp_path / 'latency_table.csv'}", "hardware.max_latency_ms=0.1", run_dir=run_dir)
    assert result.code == 0, result.text
    report = read_json(run_dir / "report.json")
    assert report["latency_ms"] == pytest.approx(expected) and expected > 0.5
    assert report["latency_target"].startswith("lut ") and report["latency_device"] == "made-up device"
    assert report["latency_threads"] == 1 and report["latency_batch_size"] == 1  # as the table was timed
    assert report["hardware"]["target"] == "lut"
    assert report["limits_broken"] == ["max_latency_ms"]  # a limit it breaks is reported, not an error
    assert "max_latency_ms" in result.out


def test_hardware_cpu_times_with_the_targets_threads(smoke_retrain: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "evaluate"
    result = run("evaluate", "debug=smoke", f"checkpoint={smoke_retrain}", "hardware=cpu", "hardware.threads=1",
                 "hardware.repeats=3", "hardware.warmup=1", "hardware.max_latency_ms=1000", run_dir=run_dir)
    assert result.code == 0, result.text
    report = read_json(run_dir / "report.json")
    assert report["latency_target"] == "cpu" and report["latency_threads"] == 1 and report["latency_ms"] > 0
    assert report["latency_device"].startswith("cpu") and report["hardware"]["repeats"] == 3
    assert report["limits_broken"] == []


def test_a_table_for_another_space_is_a_clear_error(smoke_retrain: Path, tmp_path: Path) -> None:
    table = tmp_path / "latency_table.csv"
    table.write_text("key,latency_ms,iqr_ms,input_shape,space,device,torch,threads,batch_size\nx,1.0,0,1x1x1,,,,,\n")
    result = run("evaluate", "debug=smoke", f"checkpoint={smoke_retrain}", "hardware=lut", f"hardware.table={table}",
                 run_dir=tmp_path / "e")
    assert result.code == 2 and "Traceback" not in result.text
    assert "has no entry for" in result.err and "nas latency-table" in result.err


def test_bad_bootstrap_settings_are_config_errors(tmp_path: Path) -> None:
    result = run("evaluate", f"checkpoint={tmp_path}", "bootstrap.confidence=95", run_dir=tmp_path / "e")
    assert result.code == 2 and "bootstrap.confidence between 0 and 1" in result.err
