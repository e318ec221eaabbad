"""Objectives on their own, fed metrics by hand (no profiler, no network): the soft objective with
MnasNet's latency reward, hard limits that make a candidate infeasible, and Pareto points."""

from __future__ import annotations

import math

import pytest

from nascli.errors import ConfigError, NasError
from nascli.hardware.objective import LatencyObjective, SearchObjective

NO_LIMITS = {"max_params_m": None, "max_flops_m": None}


def soft(**options) -> SearchObjective:
    return SearchObjective(**{**NO_LIMITS, "objective": "soft", "choose": "accurate", **options})


def latency(**options) -> LatencyObjective:
    return LatencyObjective(**{"target_latency_ms": None, "latency_weight": -0.07, "max_latency_ms": None,
                               **NO_LIMITS, "objective": "soft", "choose": "accurate", **options})


def test_the_soft_objective_is_the_metric_scaled_by_mnasnets_latency_reward() -> None:
    targeted = latency(target_latency_ms=2.0, latency_weight=-0.5)
    assert targeted.value({"val_accuracy": 90.0, "latency_ms": 8.0}) == pytest.approx(45.0)  # 90 * (8/2)^-0.5
    assert targeted.value({"val_accuracy": 90.0, "latency_ms": 2.0}) == pytest.approx(90.0)
    assert targeted.value({"zc_synflow": 30.0, "latency_ms": 8.0}, metric="zc_synflow") == pytest.approx(15.0)
    assert latency().value({"val_accuracy": 90.0, "latency_ms": 8.0}) == 90.0  # no target: unscaled
    assert soft().value({"val_accuracy": 90.0, "latency_ms": 8.0}) == 90.0  # without latency: the metric
    assert targeted.told({"val_accuracy": 90.0, "latency_ms": 8.0}) == pytest.approx(45.0)  # a number for strategies
    # a table timed on a busy machine can estimate a network below 0 ms: a clear error, not a complex reward
    with pytest.raises(NasError, match="A latency of -3 ms is not positive.*hardware.threads=1"):
        targeted.value({"val_accuracy": 90.0, "latency_ms": -3.0})


def test_hard_limits_make_a_candidate_infeasible() -> None:
    limited = soft(max_params_m=1.0)
    assert limited.limited and not soft().limited
    assert limited.value({"val_accuracy": 99.0, "params_m": 0.5}) == 99.0
    assert limited.feasible({"params_m": 0.5}) and limited.violations({"params_m": 2.0}) == ["max_params_m"]
    assert limited.value({"val_accuracy": 99.0, "params_m": 2.0}) == -math.inf
    assert limited.value({"val_accuracy": math.nan, "params_m": 0.5}) == -math.inf  # not measured
    slow = latency(max_latency_ms=5.0, max_flops_m=10.0)
    assert slow.violations({"latency_ms": 6.0, "flops_m": 11.0}) == ["max_flops_m", "max_latency_ms"]
    assert slow.value({"val_accuracy": 99.0, "latency_ms": 4.0, "flops_m": 11.0}) == -math.inf
    assert math.isfinite(slow.value({"val_accuracy": 99.0, "latency_ms": 4.0, "flops_m": 1.0}))


def test_a_pareto_objective_tells_the_metric_against_its_cost() -> None:
    by_params, by_latency = soft(objective="pareto"), latency(objective="pareto", target_latency_ms=2.0)
    assert (by_params.cost_metric, by_latency.cost_metric) == ("params_m", "latency_ms")
    metrics = {"val_accuracy": 80.0, "params_m": 0.3, "latency_ms": 4.0}
    assert by_params.told(metrics) == (80.0, -0.3)
    assert by_latency.told(metrics) == (80.0, -4.0)  # the front is unscaled: no reward on a Pareto axis
    assert soft(objective="pareto", max_params_m=0.1).told(metrics) == (-math.inf, -math.inf)
    assert by_latency.describe() == {"objective": "pareto", "cost": "latency_ms", "limits": {}, "choose": "accurate"}
    assert soft(max_flops_m=5.0).describe() == {"objective": "soft", "cost": "params_m", "limits": {"flops_m": 5.0}}


def test_bad_objective_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="hardware.objective must be one of soft, pareto, got 'best'"):
        soft(objective="best")
    with pytest.raises(ConfigError, match="hardware.choose must be one of accurate, cheapest, knee"):
        soft(choose="fastest")
    with pytest.raises(ConfigError, match="target_latency_ms must be positive"):
        latency(target_latency_ms=0.0)


def test_a_lower_is_better_metric_is_recorded_as_measured_and_told_negated() -> None:
    """A perplexity: the value is the perplexity (inf when infeasible: its worst), a strategy is told
    its negation to maximise, and MnasNet's reward scales it down for a network faster than the target."""
    limited = soft(max_params_m=1.0)
    assert limited.value({"val_perplexity": 120.0, "params_m": 0.5}, "val_perplexity") == 120.0
    assert limited.told({"val_perplexity": 120.0, "params_m": 0.5}, "val_perplexity") == -120.0
    assert limited.value({"val_perplexity": 120.0, "params_m": 2.0}, "val_perplexity") == math.inf
    assert limited.told({"val_perplexity": 120.0, "params_m": 2.0}, "val_perplexity") == -math.inf
    assert limited.value({"val_perplexity": math.nan, "params_m": 0.5}, "val_perplexity") == math.inf
    front = soft(objective="pareto")
    assert front.told({"val_perplexity": 80.0, "params_m": 0.3}, "val_perplexity") == (-80.0, -0.3)
    targeted = latency(target_latency_ms=2.0, latency_weight=-0.5)
    fast, slow = {"val_perplexity": 100.0, "latency_ms": 0.5}, {"val_perplexity": 100.0, "latency_ms": 8.0}
    assert targeted.value(fast, "val_perplexity") == pytest.approx(50.0)  # 100 * (0.5/2)^0.5: faster reads better
    assert targeted.value(slow, "val_perplexity") == pytest.approx(200.0)
    assert targeted.told(fast, "val_perplexity") > targeted.told(slow, "val_perplexity")
    assert "** 0.5 (below the metric" in targeted.reward("val_perplexity")
    assert "** -0.5 (above the metric" in targeted.reward()
