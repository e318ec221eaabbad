"""What nas retrain trains, and its record of it: the genotype's network at the size its search
recorded, a preset's size for that space (debug=smoke) over it and the user's network.* over both;
a joint search's hyper-parameters under the user's trainer.*; and the run's config record
(.hydra/config.yaml, model.pt's config) holds the values used."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from configured import space
from nasrun import read_json, run
from omegaconf import OmegaConf

from nascli.genotype_file import genotype_record

FAST = ["trainer.epochs=1", "dataset.max_train_samples=64", "plots=false"]


def _write(path: Path, record: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An nb201 genotype found at 8 channels, one cell per stage."""
    nb201 = space("nb201", channels=8, cells_per_stage=1)
    return _write(tmp_path_factory.mktemp("found") / "genotype.json",
                  genotype_record(nb201, nb201.sample(random.Random(0)), {}))


def _trained_size(run_dir: Path) -> dict:
    return torch.load(run_dir / "model.pt", weights_only=True)["genotype"]["space_config"]


@pytest.mark.parametrize(("overrides", "channels"), [
    ([], 8),                                      # the size its search recorded
    (["debug=smoke"], 4),                         # debug=smoke's size for an nb201 network
    (["debug=smoke", "+network.channels=6"], 6),   # the user's over the preset's
], ids=["genotype", "preset", "user"])
def test_the_network_size_is_the_genotype_s_then_the_preset_s_then_the_user_s(
        overrides: list[str], channels: int, found: Path, tmp_path: Path) -> None:
    result = run("retrain", f"genotype={found}", *overrides, *FAST, run_dir=tmp_path / "r")
    assert result.code == 0, result.text
    assert _trained_size(tmp_path / "r") == {"channels": channels, "cells_per_stage": 1}


def test_a_size_the_genotype_s_space_lacks_is_an_error_whoever_sets_it(tmp_path: Path) -> None:
    chain = space("chain", max_layers=3, input_size=8)
    genotype = _write(tmp_path / "chain" / "genotype.json", genotype_record(chain, chain.sample(random.Random(0)), {}))
    for overrides, where in ((["+network.channels=4"], "network"),
                             (["+network_by_space.chain.channels=4"], "network_by_space.chain")):
        result = run("retrain", f"genotype={genotype}", *overrides, *FAST, run_dir=tmp_path / where)
        assert result.code == 2 and f"{where}.* keys for the chain space are: " in result.err, result.text
    typo = run("retrain", f"genotype={genotype}", "+network_by_space.dart.channels=4", run_dir=tmp_path / "typo")
    assert typo.code == 2 and "network_by_space.dart: there is no 'dart' space" in typo.err


def test_a_joint_search_genotype_trains_with_its_searched_values_and_the_record_shows_them(
        found: Path, tmp_path: Path) -> None:
    joint = _write(tmp_path / "joint" / "genotype.json",
                   {**read_json(found), "hparams": {"lr": 0.0123, "batch_size": 32}})
    searched = run("retrain", "debug=smoke", f"genotype={joint}", *FAST, run_dir=tmp_path / "searched")
    assert searched.code == 0, searched.text
    assert "Training with the hyper-parameters searched with the genotype: lr=0.0123, batch_size=32" in searched.out
    config = OmegaConf.load(tmp_path / "searched" / ".hydra" / "config.yaml")
    assert (config.trainer.lr, config.trainer.batch_size) == (0.0123, 32)  # not the trainer's 0.05 and 64
    assert read_json(tmp_path / "searched" / "report.json")["searched_hparams"] == {"lr": 0.0123, "batch_size": 32}
    assert torch.load(tmp_path / "searched" / "model.pt", weights_only=True)["config"]["trainer"]["lr"] == 0.0123

    mine = run("retrain", "debug=smoke", f"genotype={joint}", "trainer.lr=0.1", *FAST, run_dir=tmp_path / "mine")
    assert mine.code == 0, mine.text
    config = OmegaConf.load(tmp_path / "mine" / ".hydra" / "config.yaml")
    assert (config.trainer.lr, config.trainer.batch_size) == (0.1, 32)  # the command line's lr wins
    assert read_json(tmp_path / "mine" / "report.json")["searched_hparams"] == {"batch_size": 32}

    again = run("retrain", "resume=true", run_dir=tmp_path / "searched")  # the record's values match model.pt's
    assert again.code == 0 and "is complete (1 epochs)" in again.out, again.text
