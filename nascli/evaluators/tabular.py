"""Score an architecture by looking it up in a tabular benchmark: no training, no dataset.

Tables: our CSV format (a `dataset` column naming the task, `arch` in the space's string form,
`val_accuracy` in percent, optional `params_m`, `flops_m`, `latency_ms` and a cost column), or the
official NAS-Bench-201 / NATS-Bench files through their own packages (`nas_201_api`, `nats_bench`).
A table that ships with nascli is named (`evaluator.table=nb201`); any other is a path.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nascli.benchmarks import table_path
from nascli.data.datasets import DataShape
from nascli.errors import ConfigError, NasError
from nascli.evaluators.base import EvalContext, Evaluator
from nascli.registry import EVALUATORS
from nascli.spaces.base import Arch, SearchSpace
from nascli.spaces.subset import SubsetSpace

REQUIRED = ("dataset", "arch", "val_accuracy")
OPTIONAL = ("params_m", "flops_m", "latency_ms")
FORMATS = ("csv", "nas_201_api", "nats_bench")
# (num_classes, in_channels, input_size) of the NAS-Bench-201 tasks, for latency measurements only
KNOWN_SHAPES = {"cifar10": DataShape(10, 3, 32), "cifar10-valid": DataShape(10, 3, 32),
                "cifar100": DataShape(100, 3, 32), "ImageNet16-120": DataShape(120, 3, 16)}


@functools.lru_cache(maxsize=8)
def _read_csv(path: str, mtime: float) -> Any:
    """The table as a DataFrame, read once per file version."""
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:  # pandas' parser errors are ValueErrors
        raise NasError(f"Could not read the benchmark table {path}: {exc}") from None


class CsvTable:
    """Our CSV format, indexed as {task: {arch: metrics}} with architectures parsed by the space;
    an architecture on several rows of a task has their mean accuracy and its first row's costs."""

    def __init__(self, path: Path, space: SearchSpace, cost_column: str | None) -> None:
        frame = _read_csv(str(path), path.stat().st_mtime)
        wanted = [*REQUIRED, *([cost_column] if cost_column else [])]
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise NasError(f"The benchmark table {path} lacks the column(s) {', '.join(missing)}; "
                           f"its columns are: {', '.join(map(str, frame.columns))}.")
        self.path, self.rows = path, len(frame)
        columns = [c for c in ("val_accuracy", *OPTIONAL) if c in frame.columns]
        self.index: dict[str, dict[Arch, dict[str, float]]] = {}
        repeats: dict[str, dict[Arch, list[float]]] = {}
        kept = list(dict.fromkeys(["dataset", "arch", *columns, *([cost_column] if cost_column else [])]))
        records = frame[kept].to_dict("records")  # a cost column may be a metric's too (cost_column=flops_m)
        for line, record in enumerate(records, start=2):
            arch = self._parse(space, record["arch"], line)
            metrics = {c: self._number(record[c], c, line) for c in columns}
            if cost_column:
                metrics["cost_s"] = self._number(record[cost_column], cost_column, line)
            task = str(record["dataset"])
            self.index.setdefault(task, {}).setdefault(arch, metrics)
            repeats.setdefault(task, {}).setdefault(arch, []).append(metrics["val_accuracy"])
        # Rows that are one architecture (NAS-Bench-101 lists specs; several prune to the same cell, each
        # with one of the benchmark's training runs) score the mean of their accuracies.
        for task, archs in repeats.items():
            for arch, accuracies in archs.items():
                if len(accuracies) > 1:
                    self.index[task][arch]["val_accuracy"] = sum(accuracies) / len(accuracies)

    def _number(self, value: Any, column: str, line: int) -> float:
        """A cell as a number (an empty cell is NaN, as pandas reads it), or an error naming the cell."""
        try:
            return float(value)
        except (TypeError, ValueError):
            raise NasError(f"Line {line} of the benchmark table {self.path}: {column} is {value!r}, not a number.") from None

    def _parse(self, space: SearchSpace, text: Any, line: int) -> Arch:
        try:
            return space.from_str(str(text))
        except NasError as exc:
            raise NasError(f"Line {line} of the benchmark table {self.path} is not an architecture of the "
                           f"{space.name} space: {exc}") from None

    def tasks(self) -> list[str]:
        return sorted(self.index)

    def archs(self, task: str) -> list[Arch]:
        return list(self.index[task])

    def lookup(self, task: str, arch: Arch) -> dict[str, float] | None:
        return self.index[task].get(arch)


class OfficialApiTable:
    """A NAS-Bench-201 (`nas_201_api`) or NATS-Bench topology (`nats_bench`) benchmark file.

    Note: these packages unpickle their benchmark files; use only the officially published files.
    """

    TASKS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")

    def __init__(self, path: Path, space: SearchSpace, package: str, hp: str) -> None:
        try:
            module = importlib.import_module(package)
        except ImportError:
            raise NasError(f"evaluator.format={package} needs the `{package}` package: "
                           f"pip install {package.replace('_', '-')}") from None
        if package == "nats_bench":
            self.api = module.create(str(path), "tss", fast_mode=True, verbose=False)
        else:
            self.api = module.NASBench201API(str(path), verbose=False)
        self.space, self.hp, self.path, self.rows = space, hp, path, len(self.api)

    def tasks(self) -> list[str]:
        return list(self.TASKS)

    def archs(self, task: str) -> list[Arch]:
        return [self.space.from_str(self.api.meta_archs[i]) for i in range(len(self.api))]

    def lookup(self, task: str, arch: Arch) -> dict[str, float] | None:
        index = self.api.query_index_by_arch(self.space.to_str(arch))
        if index is None or index < 0:
            return None
        info = self.api.get_more_info(index, task, hp=self.hp, is_random=False)
        if "valid-accuracy" not in info:
            raise NasError(f"The benchmark has no validation accuracy for task {task!r}; "
                           "use evaluator.task=cifar10-valid (cifar10 trains on train+valid).")
        cost = self.api.get_cost_info(index, task)
        return {"val_accuracy": float(info["valid-accuracy"]), "params_m": float(cost["params"]),
                "flops_m": float(cost["flops"]), "cost_s": float(info["train-all-time"])}


Table = CsvTable | OfficialApiTable


@dataclass(frozen=True)
class _ReadFor:
    """A space as a cache key: spaces of one name and config read a table alike (a restricted space
    reads it as its base does)."""

    name: str
    config: str
    space: SearchSpace = field(compare=False)

    @classmethod
    def of(cls, space: SearchSpace) -> _ReadFor:
        return cls(space.name, json.dumps(space.config(), sort_keys=True, default=str), space)


@functools.lru_cache(maxsize=4)
def _read_table(reader: _ReadFor, path: Path, mtime: float, format: str, cost_column: str | None, hp: str) -> Table:
    return CsvTable(path, reader.space, cost_column) if format == "csv" else OfficialApiTable(path, reader.space, format, hp)


def open_table(space: SearchSpace, table: str | None, task: str, format: str, cost_column: str | None,
               hp: str) -> Table:
    """evaluator.table read for `space`, with `task` in it, or a clear error. Read once per file
    version and space: the restriction of the space and the evaluator share it."""
    if not table:
        raise ConfigError("evaluator=tabular needs a benchmark table: evaluator.table=<name or path>.")
    if format not in FORMATS:
        raise ConfigError(f"evaluator.format must be one of {', '.join(FORMATS)}, got {format!r}.")
    path = table_path(table) if format == "csv" else Path(table).expanduser()
    if not path.exists():
        raise NasError(f"The benchmark file {path} does not exist (evaluator.table).")
    opened = _read_table(_ReadFor.of(space), path, path.stat().st_mtime, format, cost_column, hp)
    if task not in opened.tasks():
        raise NasError(f"Task {task!r} is not in the benchmark table {path} ({opened.rows} rows); "
                       f"its tasks are: {', '.join(opened.tasks())}. Set evaluator.task=<one of them>.")
    return opened


@EVALUATORS.register("tabular")
class TabularEvaluator(Evaluator):
    """Looks architectures up in a benchmark table for one task; never touches the dataset."""

    def __init__(self, context: EvalContext, table: str | None, task: str, format: str, restrict_space: bool,
                 cost_column: str | None, hp: str, network_shape: list[int] | None) -> None:
        super().__init__(context)
        self.task = str(task)
        self.table = open_table(context.space, table, self.task, format, cost_column, hp)
        self.simulated_cost = format != "csv" or cost_column is not None
        if network_shape is not None and len(network_shape) != 3:
            raise ConfigError(f"evaluator.network_shape is [num_classes,in_channels,input_size], got {network_shape}.")
        self._shape = DataShape(*network_shape) if network_shape else KNOWN_SHAPES.get(self.task)

    @classmethod
    def restrict(cls, space: SearchSpace, options: Mapping[str, Any]) -> SearchSpace:
        """With restrict_space, the table's architectures of its task only (see SubsetSpace)."""
        if not options["restrict_space"]:
            return space
        task = str(options["task"])
        table = open_table(space, options["table"], task, options["format"], options["cost_column"], options["hp"])
        return SubsetSpace(space, table.archs(task), f"the table {table.path} ({task})")

    def known_cost(self, arch: Arch) -> dict[str, float]:
        """The table's params and FLOPs of `arch` (what a hard limit on them is checked against)."""
        metrics = self.table.lookup(self.task, arch) or {}
        return {k: metrics[k] for k in ("params_m", "flops_m") if k in metrics}

    def evaluate(self, arch: Arch, fidelity: int | None = None) -> dict[str, float]:
        self.one_fidelity(fidelity)
        start = time.perf_counter()
        metrics = self.table.lookup(self.task, arch)
        if metrics is None:
            raise NasError(
                f"Architecture {self.context.space.to_str(arch)} is not in the benchmark table {self.table.path} "
                f"for task {self.task!r} ({self.table.rows} rows in all). Search only the table's "
                "architectures with evaluator.restrict_space=true.")
        cost = metrics.get("cost_s", time.perf_counter() - start)
        return {**metrics, "cost_s": cost if math.isfinite(cost) else 0.0}

    def network_shape(self) -> DataShape:
        if self._shape is None:
            raise ConfigError(f"Measuring hardware cost needs the network shape of task {self.task!r}: "
                              "set evaluator.network_shape=[num_classes,in_channels,input_size].")
        return self._shape
