"""A hardware target measures a candidate's cost and combines it with accuracy into the objective.

The objective follows MnasNet's soft constraint, accuracy * (latency / target) ** w, and hard
limits make a candidate infeasible (objective -inf) without hiding its measured metrics.
"""

from __future__ import annotations

import math
from typing import Any

from nascli.errors import ConfigError


class HardwareTarget:
    """Cost model and objective for one deployment target (`none`: accuracy alone)."""

    def __init__(
        self,
        name: str = "none",
        latency: bool = False,
        device: str = "cpu",
        batch_size: int = 1,
        warmup: int = 3,
        repeats: int = 10,
        target_latency_ms: float | None = None,
        latency_weight: float = -0.07,
        max_latency_ms: float | None = None,
        max_params_m: float | None = None,
        max_flops_m: float | None = None,
    ) -> None:
        if latency and target_latency_ms is not None and target_latency_ms <= 0:
            raise ConfigError(f"hardware.target_latency_ms must be positive, got {target_latency_ms}.")
        self.name = name
        self.latency = latency
        self.device = device
        self.batch_size = batch_size
        self.warmup = warmup
        self.repeats = repeats
        self.target_latency_ms = target_latency_ms
        self.latency_weight = latency_weight
        self.limits = {"latency_ms": max_latency_ms, "params_m": max_params_m, "flops_m": max_flops_m}

    def measure(self, model: Any, input_shape: tuple[int, int, int]) -> dict[str, float]:
        """params_m and flops_m always; latency_ms when this target measures latency."""
        from nascli.hardware import cost

        metrics = {"params_m": cost.params_m(model), "flops_m": cost.flops_m(model, input_shape)}
        if self.latency:
            metrics["latency_ms"] = cost.latency_ms(
                model, input_shape, self.device, self.batch_size, self.warmup, self.repeats
            )
        return metrics

    def feasible(self, metrics: dict[str, float]) -> bool:
        return all(limit is None or metrics.get(key, 0.0) <= limit for key, limit in self.limits.items())

    def objective(self, metrics: dict[str, float], metric: str = "val_accuracy") -> float:
        """The value a strategy maximises: `metric` (accuracy, or an evaluator's score such as a
        zero-cost proxy), scaled by latency for latency targets."""
        accuracy = float(metrics[metric])
        if not self.feasible(metrics) or math.isnan(accuracy):
            return -math.inf
        if self.latency and self.target_latency_ms and "latency_ms" in metrics:
            return accuracy * (metrics["latency_ms"] / self.target_latency_ms) ** self.latency_weight
        return accuracy
