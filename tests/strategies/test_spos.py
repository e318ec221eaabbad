"""SPOS: a debug run on digits writes supernet-epoch rows then evolution rows, and resumes exactly;
BN recalibration makes inherited-weight scores independent of earlier evaluations."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from configured import space
from nasrun import read_json, read_trials, run

from nascli.weight_sharing.mixing import SinglePath
from nascli.weight_sharing.single_path import path_accuracy, recalibrate_bn
from nascli.weight_sharing.supernet import build_supernet

SMALL = ("search", "strategy=spos", "debug=smoke", "trainer.epochs=2", "search_space.cells_per_stage=1",
         "strategy.subnets=3", "strategy.population=2", "strategy.elites=1", "strategy.recalibration_batches=2",
         "plots=false")



@pytest.fixture(scope="module")
def spos_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("spos") / "full"
    result = run(*SMALL, run_dir=run_dir)
    assert result.code == 0, result.text
    return run_dir


def test_debug_run_writes_epoch_then_evolution_rows(spos_run: Path) -> None:
    table = read_trials(spos_run)
    assert [r["phase"] for r in table] == ["supernet"] * 2 + ["evolution"] * 3
    assert all(0.0 <= float(r["val_accuracy"]) <= 100.0 for r in table)
    best = max(table[2:], key=lambda r: float(r["objective"]))
    assert read_json(spos_run / "genotype.json")["arch_str"] == best["arch_str"]
    report = read_json(spos_run / "report.json")
    assert report["status"] == "completed" and report["stopped_by"] == "schedule"  # 5 rows, not 20


def test_interrupted_spos_resumes_to_the_same_rows(spos_run: Path, tmp_path: Path) -> None:
    part = tmp_path / "part"
    assert run(*SMALL, "budget.trials=3", run_dir=part).code == 0
    assert len(read_trials(part)) == 3  # interrupted in the evolution phase
    resumed = run(*SMALL, "budget=schedule", "resume=true", run_dir=part)  # continued, now to the schedule's end
    assert resumed.code == 0, resumed.text
    assert read_trials(part) == read_trials(spos_run)
    assert read_json(part / "genotype.json")["arch_str"] == read_json(spos_run / "genotype.json")["arch_str"]


def test_bn_recalibration_makes_scores_independent_of_history() -> None:
    nb201 = space("nb201", channels=4, cells_per_stage=1)
    torch.manual_seed(0)
    net = build_supernet(nb201, 10, 1, 8, SinglePath())
    batches = [(torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))) for _ in range(3)]
    a, b = nb201.sample(random.Random(0)), nb201.sample(random.Random(1))
    recalibrate_bn(net, a, batches)
    first = path_accuracy(net, a, batches)
    recalibrate_bn(net, b, batches[::-1])  # other statistics in between
    recalibrate_bn(net, a, batches)
    assert path_accuracy(net, a, batches) == first
