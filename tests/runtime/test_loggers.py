"""Experiment loggers (logger=): search logs each trial, retrain each epoch, meta-train each
meta-iteration, with the config as parameters and the run's files as artefacts at the end."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import pytest
from nasrun import compose, read_json, run

from nascli.runtime.loggers import artefacts, flatten, numbers

needs_tensorboard = pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                                       reason="tensorboard is not installed (pip install 'nascli[tensorboard]')")
needs_mlflow = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("mlflow", "sqlalchemy", "alembic")),
    reason="mlflow and its local store are not installed (pip install 'nascli[mlflow]')")


def events(folder: Path) -> object:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def rows(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_the_default_csv_logger_is_the_runs_own_files() -> None:
    # nothing to build: trials.csv / metrics.csv / meta_metrics.csv already are the CSV log
    for command in ("search", "retrain", "meta-train"):
        assert dict(compose(command).logger) == {}
    both = compose("search", "logger=[csv,tensorboard,mlflow]").logger
    assert sorted(both) == ["mlflow", "tensorboard"]


def test_flatten_numbers_and_artefacts(tmp_path: Path) -> None:
    assert flatten({"trainer": {"lr": 0.1, "milestones": [1, 2]}, "network": {}, "seed": 0}) == {
        "trainer.lr": 0.1, "trainer.milestones": [1, 2], "network": {}, "seed": 0}
    assert numbers({"val_accuracy": 50, "arch_str": "x", "ok": True, "_skipped": 1.0, "loss": float("nan")}).keys() \
        == {"val_accuracy", "loss"}
    for name in ("genotype.json", "checkpoint.json", ".report.json.123.tmp", "model.pt"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in artefacts(tmp_path)] == ["genotype.json", "model.pt"]


@pytest.fixture(scope="module")
def logged_search(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("loggers") / "search"
    result = run("search", "debug=smoke", "logger=[csv,tensorboard]", run_dir=run_dir)
    assert result.code == 0, result.text
    return run_dir


@needs_tensorboard
def test_search_logs_each_trial_its_config_and_files_to_tensorboard(logged_search: Path) -> None:
    log = events(logged_search / "tensorboard")
    trials = rows(logged_search / "trials.csv")
    curve = log.Scalars("val_accuracy")
    assert [e.step for e in curve] == [int(r["trial"]) for r in trials]
    assert [round(e.value, 3) for e in curve] == [round(float(r["val_accuracy"]), 3) for r in trials]
    assert "trial" not in log.Tags()["scalars"]  # the step, not a metric
    assert "search_curve" in log.Tags()["images"]
    texts = {tag.split("/")[0] for tag in log.Tags()["tensors"]}
    assert {"config", "genotype.json", "report.md", "status"} <= texts


@needs_mlflow
def test_retrain_logs_params_epochs_and_the_model_to_mlflow(logged_search: Path) -> None:
    from mlflow.tracking import MlflowClient

    run_dir = logged_search.parent / "retrain"
    result = run("retrain", "debug=smoke", f"genotype={logged_search}", "logger=mlflow", run_dir=run_dir)
    assert result.code == 0, result.text
    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir / 'mlruns' / 'mlflow.db'}")
    (logged,) = client.search_runs([client.get_experiment_by_name("nas retrain").experiment_id])
    assert logged.info.status == "FINISHED" and logged.data.tags["nascli.run_dir"] == str(run_dir)
    epochs = rows(run_dir / "metrics.csv")
    assert logged.data.params["trainer.epochs"] == str(len(epochs)) and logged.data.params["genotype"] == str(logged_search)
    history = client.get_metric_history(logged.info.run_id, "val_accuracy")
    assert [(m.step, round(m.value, 3)) for m in history] == [(int(e["epoch"]), round(float(e["val_accuracy"]), 3))
                                                              for e in epochs]
    assert logged.data.metrics["result/test_accuracy"] == pytest.approx(read_json(run_dir / "report.json")["test_accuracy"])
    files = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"model.pt", "metrics.csv", "report.md", "report.json"} <= files


@needs_tensorboard
def test_meta_train_logs_each_meta_iteration(tmp_path: Path) -> None:
    run_dir = tmp_path / "meta"
    result = run("meta-train", "debug=smoke", "method=reptile", "tasks=subsets", "search_space=darts",
                 "method.meta_iterations=2", "method.eval_every=1", "method.inner_steps=1", "method.eval_tasks=1",
                 "search_space.layers=2", "logger=tensorboard", run_dir=run_dir)
    assert result.code == 0, result.text
    iterations = rows(run_dir / "meta_metrics.csv")
    assert [r["iteration"] for r in iterations] == ["1", "2"]
    log = events(run_dir / "tensorboard")
    assert [(e.step, round(e.value, 3)) for e in log.Scalars("adapted_accuracy")] == [
        (int(r["iteration"]), round(float(r["adapted_accuracy"]), 3)) for r in iterations]
    assert "meta_training" in log.Tags()["images"]


def test_a_missing_package_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed
    result = run("search", "debug=smoke", "logger=tensorboard", run_dir=tmp_path / "run")
    assert result.code == 2
    assert "pip install 'nascli[tensorboard]'" in result.err
    assert read_json(tmp_path / "run" / "report.json")["status"] == "failed"
