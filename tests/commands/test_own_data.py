"""A user's own data through the commands: search, retrain and evaluate on a generated image folder
show its class names; arrays search; a bad root is exit 2 with the path and what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from imagetrees import class_tree
from nasrun import read_json, run


@pytest.mark.slow
def test_a_folder_of_images_through_search_retrain_and_evaluate(tmp_path: Path) -> None:
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


def test_arrays_search(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(60) % 3, class_names=np.array(["r", "g", "b"]))
    result = run("search", "debug=smoke", "dataset=arrays", f"dataset.path={tmp_path / 'd.npz'}", "budget.trials=1",
                 run_dir=tmp_path / "search")
    assert result.code == 0, result.text


def test_a_missing_folder_is_exit_2_naming_it(tmp_path: Path) -> None:
    result = run("search", "debug=smoke", "dataset=folder", f"dataset.root={tmp_path / 'nowhere'}", run_dir=tmp_path / "s")
    assert result.code == 2 and "nowhere does not exist" in result.err and "root/<class>" in result.err
    assert "Traceback" not in result.err
