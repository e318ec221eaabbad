"""nas retrain baseline=<name>: a standard torchvision network trained with the same recipe and data as
a searched one, whose checkpoint evaluate, predict and report read like any other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nasrun import read_json, run

from nascli.checkpoint import checkpoint_data, load_checkpoint


@pytest.mark.slow
def test_a_baseline_trains_with_the_recipe_and_its_checkpoint_is_evaluated_and_predicted(tmp_path: Path) -> None:
    retrain = tmp_path / "baseline"
    result = run("retrain", "debug=smoke", "baseline=mobilenet_v3_small", run_dir=retrain)
    assert result.code == 0, result.text
    report = read_json(retrain / "report.json")
    assert (report["search_space"], report["genotype"], report["epochs"]) == ("baseline", "mobilenet_v3_small", 1)
    assert 1.4 < report["params_m"] < 1.6  # MobileNetV3-Small's 1.5 M, its classifier for 10 classes
    evaluated = run("evaluate", "debug=smoke", f"checkpoint={retrain}", run_dir=tmp_path / "evaluate")
    assert evaluated.code == 0, evaluated.text
    assert read_json(tmp_path / "evaluate" / "report.json")["test_accuracy"] == pytest.approx(report["test_accuracy"])
    ckpt, _ = load_checkpoint(str(retrain))
    data = checkpoint_data(ckpt, str(tmp_path / "data"))
    np.savez(tmp_path / "test.npz", x=data.test.images.numpy(), y=data.test.labels.numpy())
    predicted = run("predict", f"checkpoint={retrain}", f"input={tmp_path / 'test.npz'}", run_dir=tmp_path / "predict")
    assert predicted.code == 0, predicted.text
    assert predicted.objective == pytest.approx(report["test_accuracy"])


@pytest.mark.parametrize(("overrides", "says"), [
    (["baseline=vgg16"], "baseline must be one of resnet18, mobilenet_v3_small, efficientnet_b0, got 'vgg16'"),
    (["baseline=resnet18", "genotype=DARTS_V2"], "each name the network to train: give one"),
    (["baseline=resnet18", "init=somewhere"], "trains a standard network from scratch and init= fine-tunes"),
])
def test_baseline_mistakes_exit_2(tmp_path: Path, overrides: list[str], says: str) -> None:
    result = run("retrain", "debug=smoke", *overrides, run_dir=tmp_path / "r")
    assert result.code == 2 and says in result.err and "Traceback" not in result.text
