"""Every registered hardware target builds a cost profiler that measures cost without training and
says how, and an objective that turns metrics into what a strategy is told (a number, or a Pareto
point); a limit makes a candidate infeasible."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch
from configured import space

from nascli.errors import ConfigError
from nascli.hardware.latency_table import build_table
from nascli.hardware.target import target_option
from nascli.registry import HARDWARE

SPACE = space("nb201", channels=4, cells_per_stage=1)
SHAPE = (10, 1, 8)


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A latency table of SPACE at SHAPE, timed on this CPU (few repeats: only its form matters here)."""
    timer = target_option("cpu", {"repeats": 2, "warmup": 0, "threads": 1}).profiler
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
            target_option(name)
        return
    target = target_option(name, needs(name, table))
    profiler, objective = target.profiler, target.objective
    metrics = profiler.measure(SPACE, SPACE.sample(random.Random(0)), SHAPE)
    assert metrics["params_m"] > 0 and metrics["flops_m"] > 0
    assert ("latency_ms" in metrics) == profiler.latency and all(math.isfinite(v) for v in metrics.values())
    assert target.describe()["target"] == name and target.describe()["cost"] == objective.cost_metric
    scored = {**metrics, "val_accuracy": 50.0}
    assert objective.feasible(metrics) and math.isfinite(objective.value(scored))
    pareto = target_option(name, {**needs(name, table), "objective": "pareto"}).objective
    assert pareto.told(scored) == (50.0, -metrics[objective.cost_metric])
    limited = target_option(name, {**needs(name, table), "max_params_m": metrics["params_m"] / 2}).objective
    assert limited.violations(metrics) == ["max_params_m"] and limited.value(scored) == -math.inf
    assert limited.told(scored) == -math.inf


@pytest.mark.parametrize("name", HARDWARE.names())
def test_each_yaml_key_goes_to_the_profiler_or_the_objective(name: str) -> None:
    """One node, two objects: the YAML's keys are exactly the profiler's options and its
    objective's, none taken by both (runtime.config.build_parts refuses that)."""
    from hydra.utils import get_object

    from nascli.hardware.target import objective_for
    from nascli.runtime.config import load_option, options_of

    node = load_option("hardware", name)
    profiler = get_object(node._target_)
    parts = set(options_of(profiler)), set(options_of(objective_for(profiler)))
    assert not parts[0] & parts[1] and parts[0] | parts[1] == set(node) - {"_target_"}
