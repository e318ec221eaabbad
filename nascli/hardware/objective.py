"""Objectives: what a candidate's metrics mean for the search, given what it costs.

An objective holds the hard limits (a candidate over one is infeasible, and when its cost is known
before training it is never trained), and turns metrics into what a strategy is told: `soft` is the
evaluator's metric, traded against latency by MnasNet's reward accuracy * (latency / target) ** w
where latency is known; `pareto` is the metric against a cost, the metric at its best and the cost
at its least, the result chosen from the front by `choose`. It measures nothing: a cost profiler
(nascli.hardware.profiler) does.

A metric is better higher or lower (nascli.runtime.metrics: perplexity and loss are minimised). The
value a trial records is the metric in its own units, a reward too; only what a strategy is told
(`told`) is made a number to maximise, so that strategies keep one contract and nobody reads a
negated perplexity.
"""

from __future__ import annotations

import math
from typing import Any

from nascli.errors import ConfigError, NasError
from nascli.runtime import metrics as by_name

MODES = ("soft", "pareto")
CHOICES = ("accurate", "cheapest", "knee")
Told = float | tuple[float, float]  # what a strategy is told: a number, or a Pareto point, to maximise


class SearchObjective:
    """Limits on params and FLOPs; the objective is the evaluator's metric, or with objective=pareto
    that metric against params."""

    cost_metric = "params_m"  # the cost axis of a Pareto front

    def __init__(self, max_params_m: float | None, max_flops_m: float | None, objective: str, choose: str) -> None:
        if objective not in MODES:
            raise ConfigError(f"hardware.objective must be one of {', '.join(MODES)}, got {objective!r}.")
        if choose not in CHOICES:
            raise ConfigError(f"hardware.choose must be one of {', '.join(CHOICES)}, got {choose!r}.")
        self.limits: dict[str, float | None] = {"params_m": max_params_m, "flops_m": max_flops_m}
        self.mode, self.choose = objective, choose

    @property
    def pareto(self) -> bool:
        return self.mode == "pareto"

    @property
    def limited(self) -> bool:
        """Whether any hard limit is set (then candidates are costed before they are evaluated)."""
        return any(limit is not None for limit in self.limits.values())

    def describe(self) -> dict[str, Any]:
        """The objective and its limits, for report.json."""
        return {"objective": self.mode, "cost": self.cost_metric,
                "limits": {k: v for k, v in self.limits.items() if v is not None},
                **({"choose": self.choose} if self.pareto else {})}

    # --- constraints ---------------------------------------------------------------------------
    def violations(self, metrics: dict[str, float]) -> list[str]:
        """The limits `metrics` break, as their config keys (max_params_m, ...)."""
        return [f"max_{key}" for key, limit in self.limits.items()
                if limit is not None and metrics.get(key, 0.0) > limit]

    def feasible(self, metrics: dict[str, float]) -> bool:
        return not self.violations(metrics)

    # --- what the search maximises ---------------------------------------------------------------
    def reward(self, metric: str = "val_accuracy") -> str | None:
        """How the objective differs from the evaluator's `metric`, in words (None: it is the metric)."""
        return None

    def value(self, metrics: dict[str, float], metric: str = "val_accuracy") -> float:
        """The scalar recorded as a trial's objective, in `metric`'s units and direction (accuracy,
        an evaluator's score such as a zero-cost proxy, a perplexity); the metric's worst value
        (-inf, or inf when lower is better) when infeasible or not measured."""
        value = float(metrics.get(metric, math.nan))
        if not self.feasible(metrics) or math.isnan(value):
            return by_name.worst(metric)
        return value

    def told(self, metrics: dict[str, float], metric: str = "val_accuracy") -> Told:
        """What a strategy is told, to maximise: the value (negated when `metric` is lower-is-better),
        or with objective=pareto the point (that, -cost); -inf (both parts) when infeasible or not
        measured."""
        value = by_name.score(metric, self.value(metrics, metric))
        if not self.pareto:
            return value
        return (value, -float(metrics[self.cost_metric])) if math.isfinite(value) else (-math.inf, -math.inf)


class LatencyObjective(SearchObjective):
    """For a profiler that gives latency: traded against accuracy by MnasNet's soft constraint
    (target_latency_ms, latency_weight), or the cost axis of a Pareto front; max_latency_ms is a
    hard limit."""

    cost_metric = "latency_ms"

    def __init__(self, target_latency_ms: float | None, latency_weight: float, max_latency_ms: float | None,
                 **options: Any) -> None:
        super().__init__(**options)
        if target_latency_ms is not None and target_latency_ms <= 0:
            raise ConfigError(f"hardware.target_latency_ms must be positive, got {target_latency_ms}.")
        self.target_latency_ms, self.latency_weight = target_latency_ms, latency_weight
        self.limits["latency_ms"] = max_latency_ms

    def reward(self, metric: str = "val_accuracy") -> str | None:
        if self.pareto or not self.target_latency_ms:
            return None
        weight, side = self._weight(metric), "below" if by_name.lower_is_better(metric) else "above"
        return (f"MnasNet's reward: the metric x (latency_ms / {self.target_latency_ms:g} ms) ** {weight:g}"
                f" ({side} the metric for networks faster than the target)")

    def _weight(self, metric: str) -> float:
        """The exponent of MnasNet's reward for `metric`: latency_weight (negative: a faster network's
        accuracy is scaled up), its opposite for a lower-is-better metric, whose value a faster network
        must see scaled down, so that the reward keeps the metric's direction."""
        return -self.latency_weight if by_name.lower_is_better(metric) else self.latency_weight

    def value(self, metrics: dict[str, float], metric: str = "val_accuracy") -> float:
        value = super().value(metrics, metric)
        if self.pareto or not math.isfinite(value) or not self.target_latency_ms or "latency_ms" not in metrics:
            return value
        latency = metrics["latency_ms"]
        if latency <= 0:
            raise NasError(
                f"A latency of {latency:.4g} ms is not positive, so MnasNet's reward (latency / target_latency_ms) ** "
                f"latency_weight is undefined. A latency table estimates that when it was timed unsteadily (a busy "
                f"machine, several threads: its whole-network overhead outweighs the pieces); rebuild it with "
                f"`nas latency-table ... hardware.threads=1` and more hardware.repeats.")
        return value * (latency / self.target_latency_ms) ** self._weight(metric)
