"""Where meta-learning tasks come from (conf/tasks/): a benchmark table's datasets, past search runs,
or class subsets of a dataset drawn on the fly."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nascli.benchmarks import table_path
from nascli.data.datasets import DataSplits, subset_classes
from nascli.errors import ConfigError, NasError
from nascli.meta.tasks import KNOWN, History, describe
from nascli.spaces.base import SearchSpace


class MeasuredTasks(ABC):
    """A source of tasks with measured architectures (what method=transfer learns from)."""

    @abstractmethod
    def histories(self, space: SearchSpace) -> list[History]:
        """Each task's measured architectures in `space`."""


@dataclass
class TableTasks(MeasuredTasks):
    """Each dataset of a benchmark table (our CSV: dataset, arch, val_accuracy, ...) is a task."""

    table: str                  # a shipped table's name (nb201) or a path
    include: list[str] | None   # which datasets to learn from (None: all)

    def histories(self, space: SearchSpace) -> list[History]:
        import pandas as pd

        path = table_path(self.table)
        try:
            table = pd.read_csv(path, usecols=["dataset", "arch", "val_accuracy"])
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise NasError(f"{path} is not a benchmark table with dataset, arch and val_accuracy columns ({exc}).") from None
        names = list(dict.fromkeys(table["dataset"]))
        chosen = names if not self.include else list(self.include)
        missing = [n for n in chosen if n not in names]
        if missing:
            raise NasError(f"{path} has no task {', '.join(missing)}; its datasets are {', '.join(names)}.")
        out = []
        for name in chosen:
            rows = table[table["dataset"] == name]
            for arch in rows["arch"].head(3):
                space.from_str(arch)  # a table of another space fails here, with the space's own message
            out.append(History(describe(name), rows["arch"].tolist(), rows["val_accuracy"].astype(float).tolist(),
                               str(path)))
        return out


@dataclass
class RunTasks(MeasuredTasks):
    """Each past search run directory (trials.csv + .hydra/config.yaml) is a task."""

    runs: list[str]

    def histories(self, space: SearchSpace) -> list[History]:
        import pandas as pd
        from omegaconf import OmegaConf

        out = []
        for ref in self.runs:
            run = Path(ref).expanduser()
            trials, config = run / "trials.csv", run / ".hydra" / "config.yaml"
            if not trials.is_file() or not config.is_file():
                raise NasError(f"'{ref}' is not a search run directory (it needs trials.csv and .hydra/config.yaml).")
            cfg = OmegaConf.load(config)
            run_space = OmegaConf.select(cfg, "search_space._target_", default="")
            if not str(run_space).endswith(type(space).__name__):
                raise NasError(f"'{ref}' searched another space ({run_space}); this meta-train uses {space.name}.")
            rows = pd.read_csv(trials)
            if "val_accuracy" not in rows.columns:  # e.g. a language model's search, scored by val_perplexity
                raise NasError(f"'{ref}' has no val_accuracy column in trials.csv (its search scored candidates by "
                               f"another metric); a prior learns from validation accuracies: leave it out of tasks.runs.")
            rows = rows.dropna(subset=["val_accuracy"])
            name = str(OmegaConf.select(cfg, "dataset.name", default="unknown"))
            task = describe(name) if name in KNOWN else describe(name, num_classes=10, in_channels=3, input_size=32,
                                                                  samples=1)
            out.append(History(task, rows["arch_str"].tolist(), rows["val_accuracy"].astype(float).tolist(), str(run)))
        return out


@dataclass
class SubsetTasks:
    """Few-shot style tasks drawn on the fly: `ways` classes of the dataset at a time (from
    `classes`, all when None), labels shuffled across tasks."""

    ways: int
    classes: list[int] | None

    def sampler(self, data: DataSplits) -> Callable[[random.Random], DataSplits]:
        """sample_task(rng): a `ways`-class task of `data` (its class ids in `task.classes`)."""
        if self.ways < 2:
            raise ConfigError(f"tasks.ways must be at least 2, got {self.ways}.")
        pool = self.pool(data)
        if self.ways > len(pool) or any(not 0 <= c < data.num_classes for c in pool):
            raise ConfigError(f"tasks.classes must be at least tasks.ways={self.ways} class ids of {data.name} "
                              f"(0..{data.num_classes - 1}), got {pool}.")

        def sample_task(rng: random.Random) -> DataSplits:
            classes = rng.sample(pool, self.ways)  # random order: labels are shuffled across tasks
            task = subset_classes(data, classes)
            task.classes = classes  # recorded in the history
            return task

        return sample_task

    def pool(self, data: Any) -> list[int]:
        return list(range(data.num_classes)) if self.classes is None else list(self.classes)
