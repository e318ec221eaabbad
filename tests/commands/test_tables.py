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


@pytest.mark.slow
def test_predict_encodes_new_rows_with_the_training_statistics(searched, tmp_path) -> None:
    """One row alone is predicted as it is among forty: standardised by the training split, not by itself."""
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    run_dir, _ = searched
    retrained = run_dir.parent / "retrain"
    if not (retrained / "model.pt").is_file():
        assert run("retrain", f"genotype={run_dir}", "dataset=breast_cancer", "trainer.epochs=3", "plots=false",
                   run_dir=retrained).code == 0
    rows = load_breast_cancer(as_frame=True).frame.head(40)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    rows.iloc[[7]].drop(columns=["target"]).to_csv(tmp_path / "one.csv", index=False)
    many = run("predict", f"checkpoint={retrained}", f"input={tmp_path / 'rows.csv'}", run_dir=tmp_path / "many")
    one = run("predict", f"checkpoint={retrained}", f"input={tmp_path / 'one.csv'}", run_dir=tmp_path / "one")
    assert many.code == 0 and one.code == 0, many.text + one.text
    table = pd.read_csv(tmp_path / "many" / "predictions.csv")
    alone = pd.read_csv(tmp_path / "one" / "predictions.csv")
    assert set(table["label"]) <= {"malignant", "benign"} and table["correct"].mean() > 0.8
    assert alone.loc[0, "predicted"] == table.loc[7, "predicted"]
    assert alone.loc[0, "probability"] == pytest.approx(table.loc[7, "probability"], abs=1e-5)
    rows.drop(columns=["mean radius"]).assign(id=1).to_csv(tmp_path / "bad.csv", index=False)
    bad = run("predict", f"checkpoint={retrained}", f"input={tmp_path / 'bad.csv'}", run_dir=tmp_path / "bad")
    assert bad.code == 2 and "'id' the network was not trained with" in bad.text
    rows.drop(columns=["mean radius"]).to_csv(tmp_path / "short.csv", index=False)
    short = run("predict", f"checkpoint={retrained}", f"input={tmp_path / 'short.csv'}", run_dir=tmp_path / "short")
    assert short.code == 2 and "lacks the column(s) 'mean radius'" in short.text


@pytest.mark.parametrize("overrides, message", [
    (("dataset=wine", "search_space=nb201"), "dataset=wine is a table"),
    (("dataset=csv", "dataset.path=missing.csv", "dataset.label=y", "search_space=mlp"), "does not exist"),
])
def test_bad_table_searches_exit_2(tmp_path, overrides, message) -> None:
    result = run("search", *overrides, run_dir=tmp_path / "run")
    assert result.code == 2 and message in result.text, result.text
