"""The meta-learning contract: a method learns a prior (nascli.meta.prior) from a source of tasks.

`nas meta-train` builds the method (conf/method/) and the task source (conf/tasks/) from their
`_target_`s and calls `method.fit`; the method reports progress through a callback and returns
what the command shows and saves. It never prints and never writes files.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nascli.data.datasets import DataOnDemand
from nascli.meta.prior import ArchPrior
from nascli.spaces.base import SearchSpace


@dataclass
class MetaContext(DataOnDemand):
    """What a method may use: the seed, the device, and the dataset (loaded on first use)."""

    seed: int
    device: Any
    load_data: Callable[[], Any]
    dataset_config: dict[str, Any] = field(default_factory=dict)
    resume: dict[str, Any] | None = None  # a resumable method's state to continue from (meta-train resume=true)
    checkpoint: Callable[[dict[str, Any]], None] | None = None  # keeps that state after each step (the command writes it)


@dataclass
class MetaResult:
    """A learned prior and how it was learned, for the report, the summary table and the plot."""

    prior: ArchPrior
    title: str                          # of the summary table and its report section
    rows: list[dict[str, Any]]          # the summary table: one row per task, or per evaluation
    columns: list[str]                  # the columns printed in the terminal
    results: dict[str, Any]             # added to report.json
    draw: Callable[[Path], Any]         # the meta-training plot
    objective: float                    # what `nas meta-train` returns to a sweeper (higher is better)
    usage: str = "nas search"           # the search command that uses the prior
    notes: list[str] = field(default_factory=list)  # lines printed after the table


class MetaMethod(ABC):
    """Learns a prior for `space` from `tasks`."""

    resumable: bool = False  # hands `context.checkpoint` its state after each step and continues from `context.resume`

    def steps(self) -> int | None:
        """Progress steps `fit` reports (None: it reports none)."""
        return None

    @abstractmethod
    def fit(self, space: SearchSpace, tasks: Any, context: MetaContext,
            on_step: Callable[..., None]) -> MetaResult:
        """Learn the prior; call `on_step(info)` after each of `steps()` steps, or `on_step(info, metrics)`
        with that step's numbers (they go to meta_metrics.csv and the experiment loggers)."""
