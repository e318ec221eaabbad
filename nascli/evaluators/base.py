"""The evaluator contract and the context it is built with.

An evaluator turns an architecture into measured metrics; it never knows who proposed it. It
registers itself (`@EVALUATORS.register("name")`, nascli.registry) and its YAML in
conf/evaluator/ holds its defaults.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nascli.data.datasets import DataOnDemand
from nascli.spaces.base import Arch, SearchSpace


@dataclass
class EvalContext(DataOnDemand):
    """What an evaluator may use. Data is loaded on first use, so a tabular evaluator never loads it."""

    space: SearchSpace
    seed: int
    device: Any
    trainer: Any  # the trainer group's TrainConfig (short proxy training), or None
    load_data: Callable[[], Any]


class Evaluator(ABC):
    """Measures an architecture. Results depend only on (architecture, run seed): order-free."""

    name: str = ""  # set by @EVALUATORS.register
    objective_metric: str = "val_accuracy"  # the metric the hardware target turns into the objective
    simulated_cost: bool = False  # cost_s is simulated (a benchmark's training time): budget.seconds counts it
    trains: bool = False  # trains each candidate (so training hyper-parameters searched with it apply)

    def __init__(self, context: EvalContext) -> None:
        self.context = context

    def arch_seed(self, arch: Arch) -> int:
        """A seed fixed by the run seed and the architecture, so re-evaluation repeats exactly."""
        text = f"{self.context.seed}:{self.context.space.to_str(arch)}"
        return zlib.crc32(text.encode())

    def network_shape(self) -> tuple[int, int, int]:
        """(num_classes, in_channels, input_size) of the networks this evaluator scores."""
        data = self.context.data
        return data.num_classes, data.in_channels, data.input_size

    def max_fidelity(self) -> int | None:
        """The full fidelity (training epochs) when this evaluator can also score a candidate at a
        lower one (`evaluate(arch, fidelity=epochs)`, for multi-fidelity strategies), else None."""
        return None

    def known_cost(self, arch: Arch) -> dict[str, float]:
        """Costs (params_m, flops_m, ...) this evaluator knows without evaluating (a table's), else
        none: the hardware target measures them before the candidate is trained."""
        return {}

    def space_for_search(self, space: SearchSpace) -> SearchSpace:
        """The space strategies search when scored by this evaluator (a table may restrict it)."""
        return space

    @abstractmethod
    def evaluate(self, arch: Arch) -> dict[str, float]:
        """Metrics of `arch`: at least its `objective_metric` (val_accuracy: percent) and `cost_s`."""
