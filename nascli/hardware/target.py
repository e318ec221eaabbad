"""Hardware targets: the `hardware` config group, built as two objects from its one node.

    hardware=cpu hardware.threads=1 hardware.max_latency_ms=3 hardware.objective=pareto

The node's `_target_` is a cost profiler (nascli.hardware.profiler: none, cpu, cuda, lut), which
takes the options on how cost is measured (batch_size, warmup, repeats, threads, device, table,
latency_loss_weight); the objective (nascli.hardware.objective) takes the rest (limits, objective,
choose, target_latency_ms, latency_weight): the latency one where the profiler gives latency. Every
key is checked, and one that neither takes is an error naming the group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from nascli.errors import ConfigError
from nascli.hardware.objective import LatencyObjective, SearchObjective
from nascli.hardware.profiler import CostProfiler
from nascli.runtime.config import build_parts, option_node, target_of


@dataclass(frozen=True)
class HardwareTarget:
    """What a candidate costs on the device (`profiler`), and what that cost means for the search
    (`objective`)."""

    profiler: CostProfiler
    objective: SearchObjective

    def describe(self) -> dict[str, Any]:
        """The target, its objective and limits, and how cost is measured, for report.json."""
        return {"target": self.profiler.name, **self.objective.describe(), **self.profiler.describe()}


def objective_for(profiler: type[CostProfiler]) -> type[SearchObjective]:
    """The objective a profiler's measurements support: with latency, latency's limit and reward."""
    return LatencyObjective if profiler.latency else SearchObjective


def build_target(node: DictConfig) -> HardwareTarget:
    """The hardware group's profiler and objective, each option checked and given to the one that takes it."""
    profiler_class = target_of(node, "hardware")
    if not (isinstance(profiler_class, type) and issubclass(profiler_class, CostProfiler)):
        raise ConfigError(f"hardware._target_ must name a cost profiler (nascli.hardware.profiler), got "
                          f"{node.get('_target_')!r}.")
    profiler, objective = build_parts(node, "hardware", profiler_class, objective_for(profiler_class))
    return HardwareTarget(profiler, objective)


def target_option(name: str, options: Mapping[str, Any] | None = None) -> HardwareTarget:
    """hardware=<name> with some options changed, as `nas` builds it (scripts and tests)."""
    return build_target(option_node("hardware", name, options))
