"""Hardware targets: measure a candidate's cost, check the hard limits, and fold cost into the
objective a strategy maximises.

`none` reports parameters and FLOPs and enforces limits on them; `cpu` also measures latency on
this machine and applies MnasNet's soft constraint, accuracy * (latency / target) ** w. A
candidate over a hard limit is infeasible (objective -inf) without hiding its measured metrics.
"""

from __future__ import annotations

import math
from typing import Any

from nascli.errors import ConfigError
from nascli.registry import HARDWARE


@HARDWARE.register("none")
class CostTarget:
    """No device: the objective is the evaluator's metric; params and FLOPs are still measured and
    may be limited (max_params_m, max_flops_m)."""

    latency = False  # whether this target measures latency

    def __init__(self, max_params_m: float | None, max_flops_m: float | None) -> None:
        self.limits: dict[str, float | None] = {"params_m": max_params_m, "flops_m": max_flops_m}

    def describe(self) -> dict[str, Any]:
        """What is measured and how, for report.json."""
        return {"target": self.name, "limits": {k: v for k, v in self.limits.items() if v is not None}}

    def measure(self, model: Any, input_shape: tuple[int, int, int]) -> dict[str, float]:
        """params_m and flops_m of `model` for one input of `input_shape`."""
        from nascli.hardware import cost

        return {"params_m": cost.params_m(model), "flops_m": cost.flops_m(model, input_shape)}

    def feasible(self, metrics: dict[str, float]) -> bool:
        return all(limit is None or metrics.get(key, 0.0) <= limit for key, limit in self.limits.items())

    def objective(self, metrics: dict[str, float], metric: str = "val_accuracy") -> float:
        """The value a strategy maximises: `metric` (accuracy, or an evaluator's score such as a
        zero-cost proxy); -inf when infeasible or not measured."""
        value = float(metrics[metric])
        if not self.feasible(metrics) or math.isnan(value):
            return -math.inf
        return value


@HARDWARE.register("cpu")
class LatencyTarget(CostTarget):
    """Latency measured on `device` at `batch_size` (median of `repeats` runs after `warmup`),
    traded against accuracy by MnasNet's soft constraint; `max_latency_ms` is a hard limit."""

    latency = True

    def __init__(self, device: str, batch_size: int, warmup: int, repeats: int, target_latency_ms: float | None,
                 latency_weight: float, max_latency_ms: float | None, **limits: Any) -> None:
        super().__init__(**limits)
        if target_latency_ms is not None and target_latency_ms <= 0:
            raise ConfigError(f"hardware.target_latency_ms must be positive, got {target_latency_ms}.")
        if batch_size < 1 or repeats < 1 or warmup < 0:
            raise ConfigError("hardware.batch_size and hardware.repeats must be at least 1, hardware.warmup at least 0.")
        self.device, self.batch_size, self.warmup, self.repeats = device, batch_size, warmup, repeats
        self.target_latency_ms, self.latency_weight = target_latency_ms, latency_weight
        self.limits["latency_ms"] = max_latency_ms

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "device": self.device, "batch_size": self.batch_size,
                "warmup": self.warmup, "repeats": self.repeats, "statistic": "median"}

    def measure(self, model: Any, input_shape: tuple[int, int, int]) -> dict[str, float]:
        from nascli.hardware import cost

        latency = cost.latency_ms(model, input_shape, self.device, self.batch_size, self.warmup, self.repeats)
        return {**super().measure(model, input_shape), "latency_ms": latency}

    def objective(self, metrics: dict[str, float], metric: str = "val_accuracy") -> float:
        value = super().objective(metrics, metric)
        if math.isfinite(value) and self.target_latency_ms and "latency_ms" in metrics:
            return value * (metrics["latency_ms"] / self.target_latency_ms) ** self.latency_weight
        return value
