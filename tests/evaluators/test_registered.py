"""Every registered evaluator keeps the evaluator contract (nascli.evaluators.base): its metric and
cost, the same result for the same architecture whatever was scored before, a network shape, and a
fidelity (fewer epochs) honoured where it trains, refused clearly where it cannot."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch
from configured import restricted

from nascli.errors import ConfigError
from nascli.evaluators.base import EvalContext
from nascli.registry import EVALUATORS
from nascli.runtime.config import build_option
from nascli.runtime.files import torch_save
from nascli.weight_sharing.single_path import build_single_path

SPACE = build_option("search_space", "nb201", {"channels": 4, "cells_per_stage": 1})


@pytest.fixture(scope="module")
def data():
    return build_option("dataset", "digits", {"max_train_samples": 128})


@pytest.fixture(scope="module")
def spos_run(tmp_path_factory: pytest.TempPathFactory, data) -> Path:
    """A SPOS run directory's checkpoint.pt as strategy=spos writes it (untrained weights)."""
    run_dir = tmp_path_factory.mktemp("spos")
    net = build_single_path(SPACE, data, "cpu", 0)  # the search space's size
    torch_save(run_dir / "checkpoint.pt", {"state": {"supernet": net.state_dict(), "space_config": SPACE.config()}})
    return run_dir


def needs(name: str, spos_run: Path) -> dict:
    """What an evaluator needs beyond its YAML (none for most: a new one is tested as it is)."""
    return {"tabular": {"table": "nb201", "task": "cifar10", "restrict_space": True},
            "supernet": {"checkpoint": str(spos_run), "recalibration_batches": 2},
            "train": {}, "zero_cost": {"batch_size": 16}}.get(name, {})


@pytest.mark.parametrize("name", EVALUATORS.names())
def test_an_evaluator_scores_the_same_arch_the_same_way(name: str, data, spos_run: Path) -> None:
    trainer = build_option("trainer", "proxy", {"epochs": 1})
    space = restricted(name, SPACE, **needs(name, spos_run))  # the space it is built for (a table's architectures)
    evaluator = build_option("evaluator", name, needs(name, spos_run),
                             context=EvalContext(space, 0, torch.device("cpu"), trainer, lambda: data))
    rng = random.Random(0)
    first, other = space.sample(rng), space.sample(rng)
    scored = evaluator.evaluate(first)
    assert math.isfinite(scored[evaluator.objective_metric]) and scored["cost_s"] >= 0
    evaluator.evaluate(other)
    assert evaluator.evaluate(first)[evaluator.objective_metric] == scored[evaluator.objective_metric]
    num_classes, channels, size = evaluator.network_shape()
    assert min(num_classes, channels, size) >= 1
    if evaluator.max_fidelity() is None:  # scores one way: asked for fewer epochs, it says so
        with pytest.raises(ConfigError, match=f"evaluator={name} scores every candidate one way.*evaluator=train"):
            evaluator.evaluate(first, 1)
    else:
        assert math.isfinite(evaluator.evaluate(first, 1)[evaluator.objective_metric])
