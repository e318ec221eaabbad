"""The text chain end to end on generated corpora: a language-model search, retrain, evaluate (test
perplexity) and export (TorchScript and ONNX checked against PyTorch, a fixed sequence length in
the model card); a text-classification retrain evaluated with its per-class report."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from nasrun import read_json, read_trials, run
from textcorpus import labelled_csv, lm_corpus


@pytest.fixture(scope="module")
def lm_chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lm")
    corpus = lm_corpus(root / "ptb", (60, 12, 12))
    data = [f"dataset.root={corpus}", "dataset=text_lm", "dataset.bptt=8"]
    runs = {name: root / name for name in ("search", "retrain", "evaluate", "export")}
    steps = [
        ("search", "search_space=rnn", "strategy=random", "debug=smoke", "plots=false", "trainer.batch_size=4", *data),
        ("retrain", f"genotype={runs['search']}", "trainer=text", "debug=smoke", "trainer.batch_size=4", *data),
        ("evaluate", f"checkpoint={runs['retrain']}", "debug=smoke", "batch_size=4"),
        ("export", f"checkpoint={runs['retrain']}", "format=torchscript", "batch_size=3"),
    ]
    for command, *overrides in steps:
        result = run(command, *overrides, run_dir=runs[command])
        assert result.code == 0, f"{command}: {result.text}"
    return runs


def test_a_language_model_search_finds_a_cell_scored_by_perplexity(lm_chain) -> None:
    rows = read_trials(lm_chain["search"])
    assert len(rows) == 3 and all(1.0 < float(r["val_perplexity"]) < 40.0 for r in rows)
    assert read_json(lm_chain["search"] / "genotype.json")["search_space"] == "rnn"


def test_retrain_and_evaluate_report_test_perplexity(lm_chain) -> None:
    retrain = read_json(lm_chain["retrain"] / "report.json")
    assert retrain["val_perplexity"] > 1.0 and "val_perplexity" in (lm_chain["retrain"] / "metrics.csv").read_text()
    evaluated = read_json(lm_chain["evaluate"] / "report.json")
    assert 1.0 < evaluated["test_perplexity"] < 40.0 and evaluated["sequence_length"] == 8
    assert evaluated["test_perplexity"] == pytest.approx(2.718281828 ** evaluated["test_loss"], rel=1e-6)


def test_export_reproduces_the_network_at_its_fixed_sequence_length(lm_chain) -> None:
    exports = read_json(lm_chain["export"] / "report.json")["exports"]
    assert exports and all(e["passed"] and e["same_predictions"] for e in exports)
    card = (lm_chain["export"] / "MODEL_CARD.md").read_text()
    assert "fixed sequence length of 8 tokens" in card and "test perplexity" in card


def test_predict_refuses_a_text_network_with_what_to_do_instead(lm_chain, tmp_path: Path) -> None:
    result = run("predict", f"checkpoint={lm_chain['retrain']}", f"input={tmp_path}", run_dir=tmp_path / "p")
    assert result.code == 2 and "is a text network (lm)" in result.text and "nas evaluate" in result.text


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="the onnx extra is not installed")
def test_the_onnx_export_matches_pytorch_and_says_its_input(lm_chain, tmp_path: Path) -> None:
    result = run("export", f"checkpoint={lm_chain['retrain']}", "format=onnx", "batch_size=3", run_dir=tmp_path / "x")
    assert result.code == 0, result.text
    (check,) = read_json(tmp_path / "x" / "report.json")["exports"]
    assert check["format"] == "onnx" and check["passed"] and check["same_predictions"]
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "x" / "model.onnx")).metadata_props}
    assert '"shape": [8]' in meta["input"] and "int64 token ids" in meta["input"]


@pytest.mark.slow
def test_a_text_classifier_is_evaluated_per_class(tmp_path: Path) -> None:
    texts = labelled_csv(tmp_path / "reviews.csv", n=80, columns=("text", "label"))
    data = ["dataset=text_classification", f"dataset.path={texts}", "dataset.max_length=16"]
    trained = run("retrain", "genotype=DARTS_RNN", "trainer=text", "trainer.lr=1.0", "debug=smoke",
                  "+network.head=last", *data, run_dir=tmp_path / "retrain")
    assert trained.code == 0, trained.text
    evaluated = run("evaluate", f"checkpoint={tmp_path / 'retrain'}", "debug=smoke", run_dir=tmp_path / "evaluate")
    assert evaluated.code == 0, evaluated.text
    results = read_json(tmp_path / "evaluate" / "report.json")
    assert [c["class"] for c in results["per_class"]] == ["bad", "good"] and 0 <= results["test_accuracy"] <= 100
    assert (tmp_path / "evaluate" / "confusion_matrix.csv").exists()
