"""Hardware targets: what a candidate costs on a device, the hard limits, and the objective.

A target measures cost without training (parameters, FLOPs, latency: measured on this machine's
CPU or GPU, or estimated from a per-op latency table), so the engine checks the limits before a
candidate is trained. The objective is `soft` (MnasNet's reward: accuracy * (latency / target) ** w
for latency targets, accuracy alone otherwise) or `pareto` (accuracy against a cost, maximised
together; the result is chosen from the front by `choose`).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from nascli.errors import ConfigError
from nascli.hardware import cost
from nascli.hardware.table import LatencyTable
from nascli.registry import HARDWARE

OBJECTIVES = ("soft", "pareto")
CHOICES = ("accurate", "cheapest", "knee")
Shape = tuple[int, int, int]  # (num_classes, in_channels, input_size) of the networks measured


@HARDWARE.register("none")
class CostTarget:
    """No device: params and FLOPs are measured and may be limited; the objective is the
    evaluator's metric, or with objective=pareto that metric against params."""

    latency = False            # whether this target gives latency_ms
    cost_metric = "params_m"   # the cost axis of a Pareto front

    def __init__(self, max_params_m: float | None, max_flops_m: float | None, objective: str, choose: str) -> None:
        if objective not in OBJECTIVES:
            raise ConfigError(f"hardware.objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}.")
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
        """What is measured and how, for report.json."""
        return {"target": self.name, "objective": self.mode, "cost": self.cost_metric,
                "limits": {k: v for k, v in self.limits.items() if v is not None},
                **({"choose": self.choose} if self.pareto else {})}

    # --- cost ----------------------------------------------------------------------------------------
    def measure(self, space: Any, arch: Any, shape: Shape, known: dict[str, float] | None = None) -> dict[str, float]:
        """What `arch` costs (no training): params_m and flops_m, unless `known` (a table's) has them."""
        known = dict(known or {})
        if not {"params_m", "flops_m"} <= known.keys():
            num_classes, channels, size = shape
            model = space.build_network(arch, num_classes, channels, size)
            known = {"params_m": cost.params_m(model), "flops_m": cost.flops_m(model, (channels, size, size)), **known}
        return known

    def violations(self, metrics: dict[str, float]) -> list[str]:
        """The limits `metrics` break, as their config keys (max_params_m, ...)."""
        return [f"max_{key}" for key, limit in self.limits.items()
                if limit is not None and metrics.get(key, 0.0) > limit]

    def feasible(self, metrics: dict[str, float]) -> bool:
        return not self.violations(metrics)

    # --- objective ----------------------------------------------------------------------------------
    def objective(self, metrics: dict[str, float], metric: str = "val_accuracy") -> float:
        """The scalar a strategy maximises: `metric` (accuracy, or an evaluator's score such as a
        zero-cost proxy); -inf when infeasible or not measured."""
        value = float(metrics.get(metric, math.nan))
        if not self.feasible(metrics) or math.isnan(value):
            return -math.inf
        return value

    def objectives(self, metrics: dict[str, float], metric: str = "val_accuracy") -> float | tuple[float, float]:
        """What a strategy is told: the objective, or with objective=pareto (the metric, -cost),
        both maximised (-inf, -inf when infeasible or not measured)."""
        value = self.objective(metrics, metric)
        if not self.pareto:
            return value
        return (value, -float(metrics[self.cost_metric])) if math.isfinite(value) else (-math.inf, -math.inf)


class LatencyTarget(CostTarget):
    """A target that knows latency: traded against accuracy by MnasNet's soft constraint
    (target_latency_ms, latency_weight), or the cost axis of a Pareto front; max_latency_ms is a
    hard limit."""

    latency = True
    cost_metric = "latency_ms"

    def __init__(self, target_latency_ms: float | None, latency_weight: float, max_latency_ms: float | None,
                 **options: Any) -> None:
        super().__init__(**options)
        if target_latency_ms is not None and target_latency_ms <= 0:
            raise ConfigError(f"hardware.target_latency_ms must be positive, got {target_latency_ms}.")
        self.target_latency_ms, self.latency_weight = target_latency_ms, latency_weight
        self.limits["latency_ms"] = max_latency_ms

    def objective(self, metrics: dict[str, float], metric: str = "val_accuracy") -> float:
        value = super().objective(metrics, metric)
        if self.pareto or not math.isfinite(value) or not self.target_latency_ms or "latency_ms" not in metrics:
            return value
        return value * (metrics["latency_ms"] / self.target_latency_ms) ** self.latency_weight


class MeasuredLatency(LatencyTarget):
    """Latency measured on a device of this machine: the median of `repeats` runs after `warmup`,
    at `batch_size`, on `threads` CPU threads (null: torch's default)."""

    device = "cpu"

    def __init__(self, batch_size: int, warmup: int, repeats: int, threads: int | None, **options: Any) -> None:
        super().__init__(**options)
        if batch_size < 1 or repeats < 1 or warmup < 0 or (threads is not None and threads < 1):
            raise ConfigError("hardware.batch_size, repeats and threads must be at least 1, hardware.warmup at least 0.")
        self.batch_size, self.warmup, self.repeats, self.threads = batch_size, warmup, repeats, threads

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "device": self.device_name(), "batch_size": self.batch_size,
                "warmup": self.warmup, "repeats": self.repeats, "threads": self.threads or torch.get_num_threads(),
                "statistic": "median of the timed runs (IQR in latency_iqr_ms)", "torch": torch.__version__}

    def device_name(self) -> str:
        """What is measured on, for reports and latency tables: the CPU's model where the system says."""
        import platform
        from pathlib import Path

        try:
            model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("model name"))
        except (OSError, StopIteration):
            model = platform.processor() or platform.machine()
        return f"cpu: {model}"

    def time(self, module: Any, input_shape: tuple[int, int, int]) -> cost.Timing:
        """Median and IQR of `module`'s forward latency on this target's device."""
        return cost.time_forward(module, input_shape, self.device, self.batch_size, self.warmup, self.repeats,
                                 self.threads)

    def measure(self, space: Any, arch: Any, shape: Shape, known: dict[str, float] | None = None) -> dict[str, float]:
        known = super().measure(space, arch, shape, known)
        if "latency_ms" in known:
            return known
        num_classes, channels, size = shape
        timing = self.time(space.build_network(arch, num_classes, channels, size), (channels, size, size))
        return {**known, "latency_ms": timing.median_ms, "latency_iqr_ms": timing.iqr_ms}


@HARDWARE.register("cpu")
class CpuLatency(MeasuredLatency):
    """Latency measured on this machine's CPU."""

    device = "cpu"


@HARDWARE.register("cuda")
class CudaLatency(MeasuredLatency):
    """Latency measured on this machine's GPU (`device`: cuda or cuda:N), timed with CUDA events."""

    def __init__(self, device: str, **options: Any) -> None:
        if not torch.cuda.is_available():
            raise ConfigError("hardware=cuda measures on a GPU, but torch sees none here; use hardware=cpu, or "
                              "hardware=lut with a table built on the GPU machine (nas latency-table hardware=cuda).")
        if not device.startswith("cuda"):
            raise ConfigError(f"hardware.device must be cuda or cuda:N, got {device!r}.")
        super().__init__(**options)
        self.device = device

    def device_name(self) -> str:
        return torch.cuda.get_device_name(torch.device(self.device))


@HARDWARE.register("lut")
class TableLatency(LatencyTarget):
    """Latency estimated from a per-op table (`nas latency-table`): the sum of a network's pieces at
    their input shapes, plus the table's measured constant. It needs no device, so a table built on
    one machine drives a search anywhere, and its weighted sum is one-shot strategies'
    differentiable latency term (`latency_loss_weight`)."""

    def __init__(self, table: str | None, latency_loss_weight: float, **options: Any) -> None:
        super().__init__(**options)
        if not table:
            raise ConfigError("hardware=lut needs a latency table: hardware.table=<csv written by `nas latency-table`>.")
        if latency_loss_weight < 0:
            raise ConfigError(f"hardware.latency_loss_weight must be at least 0, got {latency_loss_weight}.")
        self.table = LatencyTable.load(table)
        self.latency_loss_weight = latency_loss_weight

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "table": str(self.table.path), "measured_on": self.table.meta,
                "latency_loss_weight": self.latency_loss_weight}

    def measure(self, space: Any, arch: Any, shape: Shape, known: dict[str, float] | None = None) -> dict[str, float]:
        known = super().measure(space, arch, shape, known)
        return known if "latency_ms" in known else {**known, "latency_ms": self.table.estimate(space, arch, shape)}
