"""A table the whole way: search breast_cancer with the mlp space (the default budget), baselines in
the report, retrain, evaluate with the checkpoint's stored encoding; an image space on a table and a
missing label column are exit 2."""

from __future__ import annotations

import pytest

from nascli.data.tables import TablePreprocess
from tests.nasrun import read_json, run


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("table") / "search"
    result = run("search", "dataset=breast_cancer", "search_space=mlp", "plots=false", run_dir=run_dir)
    assert result.code == 0, result.text
    return run_dir, result


@pytest.mark.slow
def test_a_search_on_breast_cancer_beats_95_percent_and_reports_both_baselines(searched) -> None:
    run_dir, result = searched
    baselines = read_json(run_dir / "report.json")["baselines"]
    models = {row["model"]: row for row in baselines["models"]}
    assert set(models) == {"searched", "hist_gradient_boosting", "logistic_regression"}
    assert models["searched"]["test_accuracy"] >= 95.0 and all(r["test_accuracy"] > 90 for r in models.values())
    assert "## Baselines" in (run_dir / "report.md").read_text() and baselines["verdict"] in result.out


@pytest.mark.slow
def test_retrain_and_evaluate_apply_the_stored_encoding(searched) -> None:
    import torch

    run_dir, _ = searched
    retrain = run("retrain", f"genotype={run_dir}", "dataset=breast_cancer", "trainer.epochs=3", "plots=false",
                  run_dir=run_dir.parent / "retrain")
    assert retrain.code == 0, retrain.text
    saved = torch.load(run_dir.parent / "retrain" / "model.pt", weights_only=True)
    pre = TablePreprocess.from_record(saved["data"]["preprocess"])
    assert pre.width == 30 and pre.class_names == ["malignant", "benign"]
    evaluate = run("evaluate", f"checkpoint={run_dir.parent / 'retrain'}", "plots=false", run_dir=run_dir.parent / "evaluate")
    assert evaluate.code == 0 and evaluate.objective > 85, evaluate.text


@pytest.mark.parametrize("overrides, message", [
    (("dataset=wine", "search_space=nb201"), "dataset=wine is a table"),
    (("dataset=csv", "dataset.path=missing.csv", "dataset.label=y", "search_space=mlp"), "does not exist"),
])
def test_bad_table_searches_exit_2(tmp_path, overrides, message) -> None:
    result = run("search", *overrides, run_dir=tmp_path / "run")
    assert result.code == 2 and message in result.text, result.text
