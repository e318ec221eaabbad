"""SPOS: a debug run on digits writes supernet-epoch rows then evolution rows, and resumes exactly;
BN recalibration makes inherited-weight scores independent of earlier evaluations."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from nasrun import nas, read_json, read_trials

from nascli.spaces.nb201 import NB201Space
from nascli.strategies.weight_sharing import path_accuracy, recalibrate_bn

SMALL = ("strategy=spos", "debug=smoke", "strategy.epochs=2", "strategy.subnets=3", "strategy.population=2",
         "strategy.elites=1", "strategy.recalibration_batches=2", "plots=false")



@pytest.fixture(scope="module")
def spos_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("spos")
    result = nas("search", *SMALL, "budget.trials=20", f"hydra.run.dir={cwd / 'full'}", cwd=cwd)
    assert result.code == 0, result.text
    return cwd / "full"


def test_debug_run_writes_epoch_then_evolution_rows(spos_run: Path) -> None:
    table = read_trials(spos_run)
    assert [r["phase"] for r in table] == ["supernet"] * 2 + ["evolution"] * 3
    assert all(0.0 <= float(r["val_accuracy"]) <= 100.0 for r in table)
    best = max(table[2:], key=lambda r: float(r["objective"]))
    assert read_json(spos_run / "genotype.json")["arch_str"] == best["arch_str"]
    assert read_json(spos_run / "report.json")["status"] == "completed"


def test_interrupted_spos_resumes_to_the_same_rows(spos_run: Path, tmp_path: Path) -> None:
    part = tmp_path / "part"
    assert nas("search", *SMALL, "budget.trials=3", f"hydra.run.dir={part}", cwd=tmp_path).code == 0
    resumed = nas("search", *SMALL, "budget.trials=20", "resume=true", f"hydra.run.dir={part}", cwd=tmp_path)
    assert resumed.code == 0, resumed.text
    assert read_trials(part) == read_trials(spos_run)


def test_bn_recalibration_makes_scores_independent_of_history() -> None:
    space = NB201Space(channels=4, cells_per_stage=1)
    torch.manual_seed(0)
    net = space.build_supernet(10, 1, 8, mode="single_path")
    batches = [(torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))) for _ in range(3)]
    a, b = space.sample(random.Random(0)), space.sample(random.Random(1))
    recalibrate_bn(net, a, batches)
    first = path_accuracy(net, a, batches)
    recalibrate_bn(net, b, batches[::-1])  # other statistics in between
    recalibrate_bn(net, a, batches)
    assert path_accuracy(net, a, batches) == first
