"""The evaluator contract and the context it is built with.

An evaluator turns an architecture into measured metrics; it never knows who proposed it. It
registers itself (`@EVALUATORS.register("name")`, nascli.registry) and its YAML in
conf/evaluator/ holds its defaults.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from nascli.data.datasets import DataOnDemand, DataShape
from nascli.errors import ConfigError
from nascli.runtime.config import configured, target_of
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
    objective_metric: str = "val_accuracy"  # the metric the hardware group's objective scores
    simulated_cost: bool = False  # cost_s is simulated (a benchmark's training time): budget.seconds counts it
    trains: bool = False  # trains each candidate (so training hyper-parameters searched with it apply)

    def __init__(self, context: EvalContext) -> None:
        self.context = context

    def arch_seed(self, arch: Arch) -> int:
        """A seed fixed by the run seed and the architecture, so re-evaluation repeats exactly."""
        text = f"{self.context.seed}:{self.context.space.to_str(arch)}"
        return zlib.crc32(text.encode())

    def network_shape(self) -> DataShape:
        """(num_classes, in_channels, input_size) of the networks this evaluator scores."""
        return self.context.data.shape

    def max_fidelity(self) -> int | None:
        """The full fidelity (training epochs) when this evaluator can also score a candidate at a
        lower one (`evaluate(arch, fidelity=epochs)`, for multi-fidelity strategies), else None."""
        return None

    def known_cost(self, arch: Arch) -> dict[str, float]:
        """Costs (params_m, flops_m, ...) this evaluator knows without evaluating (a table's), else
        none: the cost profiler measures them before the candidate is trained."""
        return {}

    @classmethod
    def restrict(cls, space: SearchSpace, options: Mapping[str, Any]) -> SearchSpace:
        """The space strategies search when this evaluator scores with `options` (its checked config
        options), decided before it is built, so that it is built for that settled space: a
        benchmark table may restrict it to the table's architectures. Unrestricted by default."""
        return space

    @abstractmethod
    def evaluate(self, arch: Arch, fidelity: int | None = None) -> dict[str, float]:
        """Metrics of `arch`: at least its `objective_metric` (val_accuracy: percent) and `cost_s`.
        With a `fidelity`, trained for that many epochs instead of the full training; an evaluator
        that cannot (max_fidelity() is None) refuses it (see one_fidelity)."""

    def one_fidelity(self, fidelity: int | None) -> None:
        """For an evaluator that scores one way only: a clear error when asked for a fidelity."""
        if fidelity is not None:
            raise ConfigError(f"evaluator={self.name or type(self).__name__} scores every candidate one way; it "
                              f"cannot train one for {fidelity} epochs. Multi-fidelity strategies (sh, hyperband, bohb, "
                              f"asha) need an evaluator that trains: evaluator=train.")


def evaluator_class(node: DictConfig) -> type[Evaluator]:
    """The evaluator class the evaluator group's `_target_` names, or a ConfigError."""
    scorer = target_of(node, "evaluator")
    if not (isinstance(scorer, type) and issubclass(scorer, Evaluator)):
        raise ConfigError(f"evaluator._target_ must name an evaluator (nascli.evaluators), got {node.get('_target_')!r}.")
    return scorer


def restricted_space(node: DictConfig, space: SearchSpace) -> SearchSpace:
    """The space strategies search when the evaluator `node` describes scores them: `space` as its
    options restrict it (Evaluator.restrict), decided before that evaluator is built."""
    scorer = evaluator_class(node)
    _, options = configured(node, "evaluator", runtime=("context",))
    return scorer.restrict(space, options)
