"""A user's own data through the commands: search, retrain, evaluate, export and predict on a generated
image folder show its class names; arrays search; a bad root is exit 2 with the path and what to do."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from imagetrees import class_tree
from nasrun import read_json, run


@pytest.mark.slow
def test_a_folder_of_images_through_search_retrain_evaluate_export_and_predict(tmp_path: Path) -> None:
    root = class_tree(tmp_path / "photos", {"cat": 12, "dog": 12, "emu": 12})
    data = ["dataset=folder", f"dataset.root={root}", f"paths.cache_dir={tmp_path / 'cache'}", "dataset.workers=0"]
    search = run("search", "debug=smoke", *data, run_dir=tmp_path / "search")
    assert search.code == 0, search.text
    retrain = run("retrain", "debug=smoke", f"genotype={tmp_path / 'search'}", *data, run_dir=tmp_path / "retrain")
    assert retrain.code == 0, retrain.text
    evaluate = run("evaluate", "debug=smoke", f"checkpoint={tmp_path / 'retrain'}", f"paths.cache_dir={tmp_path / 'cache'}",
                   run_dir=tmp_path / "evaluate")
    assert evaluate.code == 0, evaluate.text
    report = str(read_json(tmp_path / "evaluate" / "report.json"))
    assert all(name in report for name in ("cat", "dog", "emu")) and "emu" in evaluate.out
    export = run("export", f"checkpoint={tmp_path / 'retrain'}", "format=onnx", run_dir=tmp_path / "export")
    assert export.code == 0, export.text
    metadata = {p.key: p.value for p in onnx.load(str(tmp_path / "export" / "model.onnx")).metadata_props}
    assert json.loads(metadata["class_names"]) == ["cat", "dog", "emu"]
    new = class_tree(tmp_path / "new", {"cat": 2, "dog": 2, "emu": 2}, seed=1)  # labelled by their folders
    predict = run("predict", f"checkpoint={tmp_path / 'retrain'}", f"input={new}", run_dir=tmp_path / "predict")
    assert predict.code == 0, predict.text
    with open(tmp_path / "predict" / "predictions.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and {r["predicted"] for r in rows} <= {"cat", "dog", "emu"}
    assert {r["label"] for r in rows} == {"cat", "dog", "emu"}


def test_arrays_search(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(60) % 3, class_names=np.array(["r", "g", "b"]))
    result = run("search", "debug=smoke", "dataset=arrays", f"dataset.path={tmp_path / 'd.npz'}", "budget.trials=1",
                 run_dir=tmp_path / "search")
    assert result.code == 0, result.text


def test_a_search_reports_the_files_it_skipped(tmp_path: Path) -> None:
    """A truncated image is skipped, counted and listed in the search's report.json, with why."""
    root = class_tree(tmp_path / "photos", {"cat": 8, "dog": 8})
    (root / "dog" / "broken.png").write_bytes((root / "dog" / "0.png").read_bytes()[:40])
    data = ["dataset=folder", f"dataset.root={root}", f"paths.cache_dir={tmp_path / 'cache'}", "dataset.workers=0",
            "dataset.max_bad_fraction=0.2"]
    result = run("search", "debug=smoke", *data, "budget.trials=1", run_dir=tmp_path / "search")
    assert result.code == 0, result.text
    source = read_json(tmp_path / "search" / "report.json")["data_source"]
    assert source["bad"] == 1 and source["bad_files"][0]["path"].endswith("broken.png") and source["bad_files"][0]["why"]


def test_a_missing_folder_is_exit_2_naming_it(tmp_path: Path) -> None:
    result = run("search", "debug=smoke", "dataset=folder", f"dataset.root={tmp_path / 'nowhere'}", run_dir=tmp_path / "s")
    assert result.code == 2 and "nowhere does not exist" in result.err and "root/<class>" in result.err
    assert "Traceback" not in result.err
