"""Cost profilers: what a candidate costs, without training it.

A profiler measures parameters and FLOPs of a candidate's network, and latency where it knows it:
timed on this machine's CPU or GPU, or estimated from a per-op latency table (`nas latency-table`).
A table also gives one-shot strategies a differentiable latency term. What a cost means for the
search (limits, the reward, the Pareto front) is the objective's (nascli.hardware.objective).
Each profiler registers under its `hardware=` name.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nascli.errors import ConfigError
from nascli.hardware import cost
from nascli.hardware.latency_table import LatencyTable, LatencyTerms, Shape
from nascli.registry import HARDWARE
from nascli.spaces.base import Arch, SearchSpace


@dataclass(frozen=True)
class LatencyLoss:
    """A one-shot strategy's differentiable latency term: a table's terms at the searched shape, and
    their weight (per ms) in the architecture loss."""

    terms: LatencyTerms
    weight: float


@HARDWARE.register("none")
class CostProfiler:
    """No device: parameters and FLOPs of the candidate's network."""

    name: str = ""         # set by @HARDWARE.register
    latency = False        # whether this profiler gives latency_ms

    def describe(self) -> dict[str, Any]:
        """How cost is measured, for report.json (besides the objective's entries)."""
        return {}

    def measure(self, space: SearchSpace, arch: Arch, shape: Shape,
                known: dict[str, float] | None = None) -> dict[str, float]:
        """What `arch` costs (no training): params_m and flops_m, unless `known` (a table's) has them."""
        known = dict(known or {})
        if not {"params_m", "flops_m"} <= known.keys():
            num_classes, channels, size = shape
            model = space.build_network(arch, num_classes, channels, size)
            example = space.example_input(1, channels, size) if space.tokens else None  # token ids, not images
            known = {"params_m": cost.params_m(model), "flops_m": cost.flops_m(model, (channels, size, size), example),
                     **known}
        return known

    def latency_loss(self, space: SearchSpace, shape: Shape) -> LatencyLoss | None:
        """The differentiable latency term a one-shot strategy adds to its architecture loss at
        `shape`, or None (only a latency table gives one)."""
        return None


class MeasuredLatency(CostProfiler):
    """Latency measured on a device of this machine: the median of `repeats` runs after `warmup`,
    at `batch_size`, on `threads` CPU threads (null: torch's default)."""

    latency = True
    device = "cpu"

    def __init__(self, batch_size: int, warmup: int, repeats: int, threads: int | None) -> None:
        if batch_size < 1 or repeats < 1 or warmup < 0 or (threads is not None and threads < 1):
            raise ConfigError("hardware.batch_size, repeats and threads must be at least 1, hardware.warmup at least 0.")
        self.batch_size, self.warmup, self.repeats, self.threads = batch_size, warmup, repeats, threads

    def describe(self) -> dict[str, Any]:
        return {"device": self.device_name(), "batch_size": self.batch_size, "warmup": self.warmup,
                "repeats": self.repeats, "threads": self.threads or torch.get_num_threads(),
                "statistic": "median of the timed runs (IQR in latency_iqr_ms)", "torch": torch.__version__}

    def device_name(self) -> str:
        """What is measured on, for reports and latency tables: the CPU's model where the system says."""
        try:
            model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("model name"))
        except (OSError, StopIteration):
            model = platform.processor() or platform.machine()
        return f"cpu: {model}"

    def time(self, module: torch.nn.Module, input_shape: tuple[int, int, int],
             example: torch.Tensor | None = None) -> cost.Timing:
        """Median and IQR of `module`'s forward latency on this profiler's device (on `example`, a
        network's own input, where it takes no images)."""
        return cost.time_forward(module, input_shape, self.device, self.batch_size, self.warmup, self.repeats,
                                 self.threads, example)

    def measure(self, space: SearchSpace, arch: Arch, shape: Shape,
                known: dict[str, float] | None = None) -> dict[str, float]:
        known = super().measure(space, arch, shape, known)
        if "latency_ms" in known:
            return known
        num_classes, channels, size = shape
        example = space.example_input(1, channels, size) if space.tokens else None
        timing = self.time(space.build_network(arch, num_classes, channels, size), (channels, size, size), example)
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
class TableLatency(CostProfiler):
    """Latency estimated from a per-op table (`nas latency-table`): the sum of a network's pieces at
    their input shapes, plus the table's measured constant. It needs no device, so a table built on
    one machine drives a search anywhere, and its weighted sum is one-shot strategies'
    differentiable latency term (`latency_loss_weight`)."""

    latency = True

    def __init__(self, table: str | None, latency_loss_weight: float) -> None:
        if not table:
            raise ConfigError("hardware=lut needs a latency table: hardware.table=<csv written by `nas latency-table`>.")
        if latency_loss_weight < 0:
            raise ConfigError(f"hardware.latency_loss_weight must be at least 0, got {latency_loss_weight}.")
        self.table = LatencyTable.load(table)
        self.latency_loss_weight = latency_loss_weight

    def describe(self) -> dict[str, Any]:
        return {"table": str(self.table.path), "measured_on": self.table.meta,
                "latency_loss_weight": self.latency_loss_weight}

    def measure(self, space: SearchSpace, arch: Arch, shape: Shape,
                known: dict[str, float] | None = None) -> dict[str, float]:
        known = super().measure(space, arch, shape, known)
        return known if "latency_ms" in known else {**known, "latency_ms": self.table.estimate(space, arch, shape)}

    def latency_loss(self, space: SearchSpace, shape: Shape) -> LatencyLoss | None:
        if self.latency_loss_weight == 0:
            return None
        return LatencyLoss(self.table.terms(space, shape), self.latency_loss_weight)
