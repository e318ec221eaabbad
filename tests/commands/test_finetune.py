"""nas retrain init=<run> finetune=<mode>: fine-tune a retrained network or a one-shot search's
supernet on other classes or data; the checkpoint stays one that evaluate and export read."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from nasrun import nas, read_json, run

from nascli.checkpoint import build_model, load_checkpoint

SMOKE = ("debug=smoke", "finetune.compare_scratch=false")  # seconds on a CPU


def _fails_clearly(result, *phrases: str) -> None:
    assert result.code == 2, result.text
    assert "Traceback" not in result.text
    for phrase in phrases:
        assert phrase in result.err, result.err


def test_head_finetune_to_other_classes_against_scratch(smoke_retrain: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "head"
    result = run("retrain", "debug=smoke", f"init={smoke_retrain}", "finetune=head", "dataset.classes=[5,6,7,8,9]",
                 run_dir=run_dir)
    assert result.code == 0, result.text
    report = read_json(run_dir / "report.json")
    channels = torch.load(smoke_retrain / "model.pt", weights_only=True)["genotype"]["space_config"]["channels"]
    assert report["finetune"]["mode"] == "head" and report["finetune"]["head"] == "new"
    assert report["trainable_params"] == 4 * channels * 5 + 5  # nb201's classifier: Linear(4C, 5 classes)
    assert report["init"]["kind"] == "checkpoint" and report["init"]["path"].endswith("model.pt")
    assert report["trainable_params"] < report["total_params"]
    assert 0 <= report["scratch"]["test_accuracy"] <= 100 and "Fine-tuning vs scratch" in (run_dir / "report.md").read_text()
    # only the classifier changed: every other tensor, BN statistics included, is the init's
    before, after = (torch.load(d / "model.pt", weights_only=True)["state_dict"] for d in (smoke_retrain, run_dir))
    assert all(torch.equal(after[k], v) for k, v in before.items() if not k.startswith("classifier"))
    evaluated = run("evaluate", "debug=smoke", f"checkpoint={run_dir}", run_dir=tmp_path / "evaluate")
    assert evaluated.code == 0, evaluated.text
    assert len(read_json(tmp_path / "evaluate" / "report.json")["confusion_matrix"]) == 5


@pytest.mark.slow
def test_lora_on_other_input_shapes_saves_a_plain_network_that_exports(smoke_retrain: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "lora"
    data = ("dataset=fake", "dataset.channels=3", "dataset.image_size=12", "dataset.num_classes=3",
            "dataset.train_samples=64", "dataset.val_samples=16", "dataset.test_samples=16")
    result = run("retrain", *SMOKE, f"init={smoke_retrain}", "finetune=lora", *data, run_dir=run_dir)
    assert result.code == 0, result.text
    report = read_json(run_dir / "report.json")
    assert report["finetune"]["input_adapter"] == {"in_channels": 1, "input_size": 8}
    assert report["finetune"]["lora"]["convs"] > 0 and "scratch" not in report
    ckpt, path = load_checkpoint(str(run_dir))
    assert not any("lora" in key for key in ckpt["state_dict"])  # merged into the convolutions
    _, _, model = build_model(ckpt, str(path))
    assert model(torch.randn(2, 3, 12, 12)).shape == (2, 3)
    exported = run("export", f"checkpoint={run_dir}", "format=onnx", run_dir=tmp_path / "export")
    assert exported.code == 0, exported.text
    assert all(check["passed"] for check in read_json(tmp_path / "export" / "report.json")["exports"])


def test_init_from_a_one_shot_search_inherits_the_supernet_path(tmp_path: Path) -> None:
    search = tmp_path / "spos"
    assert run("search", "debug=smoke", "strategy=spos", "search_space.channels=8", "search_space.cells_per_stage=1",
               run_dir=search).code == 0
    run_dir = tmp_path / "tuned"
    result = run("retrain", *SMOKE, f"init={search}", f"genotype={search}", run_dir=run_dir)
    assert result.code == 0, result.text
    report = read_json(run_dir / "report.json")
    assert report["init"]["kind"] == "supernet" and report["init"]["strategy"] == "SPOS"
    assert 0 < report["init"]["inherited_tensors"] <= report["init"]["tensors"]
    assert report["genotype"] == read_json(search / "genotype.json")["arch_str"]
    assert report["finetune"]["head"] == "kept"  # the same data and classes as the search
    ckpt = torch.load(run_dir / "model.pt", weights_only=True)
    searched = read_json(search / "genotype.json")["space_config"]
    assert ckpt["genotype"]["space_config"] == searched  # the supernet's size: the searched space's


def test_a_pcdarts_supernet_does_not_fit_the_network(smoke_search: Path, tmp_path: Path) -> None:
    search = tmp_path / "pcdarts"  # what a PC-DARTS search leaves: genotype.json, and betas in its supernet
    search.mkdir()
    (search / "genotype.json").write_text((smoke_search / "genotype.json").read_text())
    supernet = {"alpha_cell": torch.zeros(6, 5), "beta_cell": torch.zeros(6)}
    torch.save({"fingerprint": {"strategy": {"channels": 8, "layers": 5}}, "rows": [], "state": {"supernet": supernet}},
               search / "checkpoint.pt")
    _fails_clearly(run("retrain", *SMOKE, f"init={search}", run_dir=tmp_path / "r"), "PC-DARTS", f"genotype={search}")


def test_a_sample_based_search_has_no_weights_to_inherit(smoke_search: Path, tmp_path: Path) -> None:
    _fails_clearly(run("retrain", *SMOKE, f"init={smoke_search}", run_dir=tmp_path / "r"),
                   "no weights to inherit", f"genotype={smoke_search}")


@pytest.mark.parametrize(("overrides", "phrases"), [
    (("init={tmp}/nowhere",), ("does not exist",)),
    (("init={tmp}",), ("neither a retrain run",)),
    (("init={smoke}/model.pt", "genotype=DARTS_V2"), ("is not the architecture",)),
    (("init={smoke}", "finetune.lora.rank=0", "finetune=lora"), ("finetune.lora.rank must be at least 1",)),
    (("init={smoke}", "finetune.mode=fast"), ("finetune.mode must be one of full, head, bn, lora",)),
    (("genotype={smoke_search}", "finetune=bn"), ("give init=",)),
    (("init={smoke}", "+network.channels=8"), ("the network is the init's",)),
])
def test_finetune_mistakes_are_clear_errors(overrides, phrases, smoke_retrain: Path, smoke_search: Path,
                                            tmp_path: Path) -> None:
    given = [o.format(tmp=tmp_path, smoke=smoke_retrain, smoke_search=smoke_search) for o in overrides]
    _fails_clearly(run("retrain", "debug=smoke", *given, run_dir=tmp_path / "r"), *phrases)


@pytest.mark.slow
def test_nas_retrain_init_finetune_bn_end_to_end(smoke_retrain: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "bn"
    result = nas("retrain", *SMOKE, f"init={smoke_retrain}", "finetune=bn", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.code == 0, result.text
    assert "Fine-tuning (bn, kept classifier)" in result.out
    report = read_json(run_dir / "report.json")
    assert report["status"] == "completed" and report["finetune"]["mode"] == "bn"
