"""Every registered hardware target measures cost without training, says how, and turns metrics into
an objective (a number, or a Pareto point); a limit makes a candidate infeasible."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch

from nascli.errors import ConfigError
from nascli.hardware.table import build_table
from nascli.registry import HARDWARE
from nascli.runtime.config import build_option

SPACE = build_option("search_space", "nb201", {"channels": 4, "cells_per_stage": 1})
SHAPE = (10, 1, 8)


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A latency table of SPACE at SHAPE, timed on this CPU (few repeats: only its form matters here)."""
    timer = build_option("hardware", "cpu", {"repeats": 2, "warmup": 0, "threads": 1})
    path = tmp_path_factory.mktemp("table") / "latency_table.csv"
    build_table(SPACE, SHAPE, timer.time, {"device": "cpu"}, calibration=2, seed=0).save(path)
    return path


def needs(name: str, table: Path) -> dict:
    """What a target needs beyond its YAML (none for most: a new one is tested as it is)."""
    return {"lut": {"table": str(table)}, "cpu": {"repeats": 2, "warmup": 0}}.get(name, {})


@pytest.mark.parametrize("name", HARDWARE.names())
def test_a_target_measures_describes_and_scores(name: str, table: Path) -> None:
    if name == "cuda" and not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="torch sees none here"):
            build_option("hardware", name)
        return
    target = build_option("hardware", name, needs(name, table))
    metrics = target.measure(SPACE, SPACE.sample(random.Random(0)), SHAPE)
    assert metrics["params_m"] > 0 and metrics["flops_m"] > 0
    assert ("latency_ms" in metrics) == target.latency and all(math.isfinite(v) for v in metrics.values())
    assert target.describe()["target"] == name and target.describe()["cost"] == target.cost_metric
    scored = {**metrics, "val_accuracy": 50.0}
    assert target.feasible(metrics) and math.isfinite(target.objective(scored))
    pareto = build_option("hardware", name, {**needs(name, table), "objective": "pareto"})
    assert pareto.objectives(scored) == (50.0, -metrics[target.cost_metric])
    limited = build_option("hardware", name, {**needs(name, table), "max_params_m": metrics["params_m"] / 2})
    assert limited.violations(metrics) == ["max_params_m"] and limited.objective(scored) == -math.inf
    assert limited.objectives(scored) == -math.inf
