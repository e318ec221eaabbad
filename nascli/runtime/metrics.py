"""Metrics by name: which way each is better, and how people read it (label, unit).

A search, a report or a sweep that optimises a metric asks here which way is better instead of
assuming "higher": perplexity, loss and error are minimised, accuracy maximised. The value a trial
records (trials.csv's `objective`, report.json, every table and plot) is always the metric itself,
in its own units; only what a strategy is told is turned into a number to maximise (`score`), so
that no person ever reads a negated perplexity.

A name not in the table is read by its form: `*loss`, `*perplexity`, `*ppl`, `*error`, `*_err`
and times (`*_ms`, `*_s`) are lower-is-better; anything else is higher-is-better. That default
keeps every score nascli maximised before directions existed (accuracies, zero-cost proxies such
as `zc_synflow`, a benchmark table's accuracy columns, a user evaluator's score) maximised, where
refusing unknown names would break them; an evaluator whose score is minimised under another name
declares it with `register`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MAX, MIN = "max", "min"  # a metric's direction, as report.json records it
LOWER_SUFFIXES = ("loss", "perplexity", "ppl", "error", "_err", "_ms", "_s")


@dataclass(frozen=True)
class Metric:
    """A metric's name, whether lower values are better, and how to show it."""

    name: str
    lower_is_better: bool = False
    label: str = ""  # in words, for axes and report text: "validation perplexity"
    unit: str = ""   # "%", "M", "ms", or "" for a pure number

    @property
    def direction(self) -> str:
        """"min" or "max"."""
        return MIN if self.lower_is_better else MAX

    @property
    def direction_text(self) -> str:
        return "lower is better" if self.lower_is_better else "higher is better"

    @property
    def worst(self) -> float:
        """The value worse than every measured one (a failed or infeasible candidate's)."""
        return math.inf if self.lower_is_better else -math.inf

    @property
    def axis_label(self) -> str:
        """An axis or column heading: the label and its unit, "validation accuracy (%)"."""
        label = self.label or self.name
        return f"{label} ({self.unit})" if self.unit else label

    def score(self, value: float) -> float:
        """`value` as a number to maximise (itself, or its negation for a lower-is-better metric):
        what a strategy is told, never what a person reads."""
        return -value if self.lower_is_better else value

    def better(self, a: float, b: float) -> bool:
        """Whether `a` is strictly better than `b` (nan is never better, and anything beats nan)."""
        if not _measured(a):
            return False
        return not _measured(b) or self.score(a) > self.score(b)

    def best_of(self, values: Iterable[Any]) -> float | None:
        """The best measured value (None and nan skipped); None when there is none."""
        measured = [float(v) for v in values if _measured(v)]
        if not measured:
            return None
        return min(measured) if self.lower_is_better else max(measured)

    def rank_key(self, value: Any) -> float:
        """A sort key putting the best value first and unmeasured ones (None, nan) last."""
        return -self.score(float(value)) if _measured(value) else math.inf

    def text(self, value: float, digits: int = 4) -> str:
        """`value` with its unit, as summaries print it: "93.41%", "120.3"."""
        unit = "" if self.unit in ("", "%") else " "
        return f"{value:.{digits}g}{unit}{self.unit}"

    def describe(self) -> dict[str, str]:
        """For report.json: {"metric", "direction", "label", "unit"}."""
        return {"metric": self.name, "direction": self.direction, "label": self.label or self.name, "unit": self.unit}


def _measured(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


KNOWN: dict[str, Metric] = {m.name: m for m in (
    Metric("val_accuracy", False, "validation accuracy", "%"),
    Metric("test_accuracy", False, "test accuracy", "%"),
    Metric("train_accuracy", False, "training accuracy", "%"),
    Metric("accuracy", False, "accuracy", "%"),
    Metric("val_perplexity", True, "validation perplexity"),
    Metric("test_perplexity", True, "test perplexity"),
    Metric("train_perplexity", True, "training perplexity"),
    Metric("val_loss", True, "validation loss"),
    Metric("test_loss", True, "test loss"),
    Metric("train_loss", True, "training loss"),
    Metric("val_error", True, "validation error", "%"),
    Metric("test_error", True, "test error", "%"),
    Metric("error", True, "error", "%"),
    Metric("params_m", True, "parameters", "M"),
    Metric("flops_m", True, "FLOPs", "M MACs"),
    Metric("latency_ms", True, "latency", "ms"),
    Metric("cost_s", True, "cost", "s"),
)}


def register(metric: Metric) -> Metric:
    """Declare a metric (an evaluator's own score under a name the rules would misread)."""
    KNOWN[metric.name] = metric
    return metric


def metric(name: str) -> Metric:
    """The metric called `name`: from the table, else read by its form (see the module's docstring)."""
    known = KNOWN.get(name)
    if known is not None:
        return known
    return Metric(name, name.endswith(LOWER_SUFFIXES), name.replace("_", " "))


def lower_is_better(name: str) -> bool:
    return metric(name).lower_is_better


def better(name: str, a: float, b: float) -> bool:
    """Whether `a` is strictly better than `b` as values of metric `name`."""
    return metric(name).better(a, b)


def best_of(name: str, values: Iterable[Any]) -> float | None:
    """The best measured value of metric `name` among `values` (None when none is measured)."""
    return metric(name).best_of(values)


def worst(name: str) -> float:
    """-inf for a higher-is-better metric, inf for a lower-is-better one."""
    return metric(name).worst


def score(name: str, value: float) -> float:
    """`value` of metric `name` as a number to maximise (negated when lower is better)."""
    return metric(name).score(value)


def objective_metric(data: Any, default: str = "val_accuracy") -> str:
    """The metric a network trained on `data` is validated by: the data's `objective_metric`
    attribute (a language-model corpus says val_perplexity), else `default`."""
    return getattr(data, "objective_metric", None) or default
