"""experiment=darts_imagenet_retrain: the DARTS paper's ImageNet mobile setting on an ImageNet-style
folder (train/ and val/ class folders), its values as composed, and end to end on a tiny tree."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from imagetrees import class_tree
from nasrun import compose, read_json, run

from nascli.runtime.config import build, build_option
from nascli.spaces.darts.genotype import PUBLISHED


def test_the_composed_experiment_is_the_papers_mobile_setting() -> None:
    cfg = compose("retrain", "experiment=darts_imagenet_retrain", "genotype=DARTS_V2", "dataset.root=/data/imagenet")
    assert cfg.dataset.name == "folder" and cfg.dataset.image_size == 224 and cfg.dataset.decode == "files"
    assert cfg.dataset.val_folder_split == "test" and list(cfg.dataset.crop_scale) == [0.08, 1.0]
    assert cfg.dataset.eval_crop == 0.875
    trainer = build(cfg.trainer, "trainer")
    assert (trainer.epochs, trainer.batch_size, trainer.lr, trainer.momentum, trainer.weight_decay) == (250, 128, 0.1, 0.9, 3e-5)
    assert (trainer.lr_schedule, trainer.lr_decay, trainer.label_smoothing, trainer.auxiliary_weight) == ("exponential", 0.97, 0.1, 0.4)
    sizes = dict(cfg.network_by_space.darts)
    assert sizes == {"channels": 48, "layers": 14, "auxiliary": True, "drop_path": 0.0, "stem": "imagenet"}
    space = build_option("search_space", "darts", sizes)
    with torch.device("meta"):
        net = space.build_network(PUBLISHED["DARTS_V2"], num_classes=1000, in_channels=3, input_size=224)
    params = sum(p.numel() for name, p in net.named_parameters() if "auxiliary" not in name)
    assert params == pytest.approx(4.7e6, rel=0.03)  # the paper's 4.7M (its count leaves the auxiliary head out)


@pytest.mark.slow
def test_darts_v2_trains_and_evaluates_on_an_imagenet_style_tree(tmp_path: Path) -> None:
    root = tmp_path / "imagenet"
    class_tree(root / "train", {"n01": 8, "n02": 8, "n03": 8}, sizes=[(40, 36), (36, 44)])
    class_tree(root / "val", {"n01": 3, "n02": 3, "n03": 3}, seed=1, sizes=[(40, 36)])
    tiny = [f"dataset.root={root}", f"dataset.cache_dir={tmp_path / 'cache'}", "dataset.workers=1", "dataset.image_size=32",
            "network_by_space.darts.layers=5", "trainer.batch_size=8", "plots=false"]
    result = run("retrain", "experiment=darts_imagenet_retrain", "genotype=DARTS_V2", "debug=smoke", *tiny,
                 run_dir=tmp_path / "retrain")
    assert result.code == 0, result.text
    saved = torch.load(tmp_path / "retrain" / "model.pt", weights_only=True)
    assert saved["genotype"]["space_config"]["stem"] == "imagenet"
    assert saved["data"]["test"] == 9 and saved["data"]["preprocess"]["crop"] == 0.875
    assert saved["data"]["source"]["decode"] == "files" and not (tmp_path / "cache").exists()
    trained = read_json(tmp_path / "retrain" / "report.json")["test_accuracy"]
    evaluated = run("evaluate", f"checkpoint={tmp_path / 'retrain'}", run_dir=tmp_path / "evaluate")
    assert evaluated.code == 0, evaluated.text
    assert read_json(tmp_path / "evaluate" / "report.json")["test_accuracy"] == pytest.approx(trained)
