"""Every registered hardware target measures cost, says how, and turns metrics into an objective."""

from __future__ import annotations

import math
import random

import pytest

from nascli.registry import HARDWARE
from nascli.runtime.config import build_option


@pytest.mark.parametrize("name", HARDWARE.names())
def test_a_target_measures_describes_and_scores(name: str) -> None:
    target = build_option("hardware", name)
    space = build_option("search_space", "nb201", {"channels": 4, "cells_per_stage": 1})
    model = space.build_network(space.sample(random.Random(0)), 10, 1, 8)
    metrics = target.measure(model, (1, 8, 8))
    assert metrics["params_m"] > 0 and metrics["flops_m"] > 0
    assert ("latency_ms" in metrics) == target.latency and all(math.isfinite(v) for v in metrics.values())
    assert target.describe()["target"] == name
    assert target.feasible(metrics) and math.isfinite(target.objective({**metrics, "val_accuracy": 50.0}))
    limited = build_option("hardware", name, {"max_params_m": metrics["params_m"] / 2})
    assert not limited.feasible(metrics) and limited.objective({**metrics, "val_accuracy": 50.0}) == -math.inf
