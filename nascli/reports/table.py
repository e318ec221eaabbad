"""The comparison tables: one row per run, and mean ± std over seeds per configuration.

Each metric ranks in its own direction (nascli.runtime.metrics: a perplexity, a latency lowest
first); a search's `objective` in its run's (report.json's objective_metric). Searches whose
objectives are different metrics are never ranked together: their objective columns are named
by the metric, `objective (val_perplexity)` beside `objective (val_accuracy)`."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from nascli.errors import NasError
from nascli.reports.runs import METRICS, Run
from nascli.runtime import metrics as by_name

SEED = "seed"
PRIMARY = ["objective", "test_accuracy", "val_accuracy", "adapted_accuracy", "test_perplexity",
           "val_perplexity"]  # `--metric auto`: the first present (then an `objective (<metric>)` column)
FIXED = ["run", "command", "status", "wall_s", "work_s", "trials", "reason"]  # the runs table's own columns


def differing(runs: list[Run]) -> list[str]:
    """Override keys whose value is not the same in every run (a key some runs lack differs too)."""
    keys = sorted({k for run in runs for k in run.overrides})
    return [k for k in keys if len({run.overrides.get(k, "") for run in runs}) > 1]


def runs_frame(runs: list[Run]) -> pd.DataFrame:
    """One row per run: name, command, the differing overrides, status, metrics, cost, reason.

    attrs: `keys`, the columns that tell configurations apart (`command` first when runs of several
    commands are compared, then the differing overrides), `metrics`, and `lower`: the metrics whose
    lowest value is best. An override named like one of the table's own columns (`+status=x`) gets a
    column of its own: `status (override)`."""
    runs = _objectives_named(runs)
    named = [m for run in runs for m in run.metrics if m.startswith("objective (")]
    metrics = [n for m in dict.fromkeys(m for cmd in METRICS.values() for m in cmd)
               for n in ([m] if m != "objective" else ["objective", *dict.fromkeys(named)])
               if any(n in run.metrics for run in runs)]
    objective_lower = {run.lower_is_better for run in runs if "objective" in run.metrics}
    lower = [m for m in metrics if (objective_lower == {True} if m == "objective" else
                                    by_name.lower_is_better(m.removeprefix("objective (").removesuffix(")")))]
    taken = {*FIXED, *metrics}
    overrides = {f"{k} (override)" if k in taken else k: k for k in differing(runs)}  # column: override key
    mixed = ["command"] if len({run.command for run in runs}) > 1 else []
    rows = [{"run": run.name, **{c: run.overrides.get(k, "") for c, k in overrides.items()}, "command": run.command,
             "status": run.status, **{m: run.metrics.get(m, math.nan) for m in metrics},
             "wall_s": run.wall_s, "work_s": run.work_s, "trials": run.trials, "reason": run.reason} for run in runs]
    columns = ["run", *mixed, *overrides, *([] if mixed else ["command"]), "status", *metrics, "wall_s", "work_s",
               "trials", "reason"]
    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs.update(keys=[*mixed, *overrides], metrics=metrics, lower=lower)
    return frame


def _objectives_named(runs: list[Run]) -> list[Run]:
    """`runs`, with each search's `objective` renamed `objective (<its metric>)` when the searches'
    objectives are not all one metric (a mean of accuracies and perplexities means nothing)."""
    kinds = {run.objective_metric for run in runs if "objective" in run.metrics}
    if len(kinds) < 2:
        return runs
    renamed = []
    for run in runs:
        if "objective" in run.metrics:
            values = {(f"objective ({run.objective_metric})" if k == "objective" else k): v
                      for k, v in run.metrics.items()}
            run = dataclasses.replace(run, metrics=values)
        renamed.append(run)
    return renamed


def lower_is_better(frame: pd.DataFrame, metric: str) -> bool:
    """Whether `metric`'s lowest value is best among the runs of `frame`."""
    return metric in frame.attrs.get("lower", [])


def primary_metric(frame: pd.DataFrame, metric: str) -> str | None:
    """The metric that ranks configurations: the one asked for, or the first of PRIMARY present
    (None when no run completed with one: the runs are still listed, with their reasons)."""
    metrics = frame.attrs["metrics"]
    if metric != "auto":
        if metric not in metrics:
            raise NasError(f"--metric {metric}: no run reports it; choose one of: {', '.join(metrics) or '(none)'}.")
        return metric
    named = [m for m in metrics if m.startswith("objective (")]  # searches of several metrics: by objective first
    for name in [PRIMARY[0], *named, *PRIMARY[1:]]:
        if name in metrics and frame[name].notna().any():
            return name
    return None


@dataclass
class Summary:
    """Per configuration (the differing overrides except `seed`): runs, completed, mean and std of each metric."""

    table: pd.DataFrame
    config_keys: list[str]
    metric: str | None
    best: dict[str, Any] | None   # the best configuration's row, or None when no run completed


def summarize(frame: pd.DataFrame, metric: str | None, maximize: bool = True) -> Summary:
    """Mean ± sample standard deviation (ddof=1) over seeds of each metric, per configuration, over
    completed runs; failed ones are counted beside them. The best configuration has the best mean."""
    keys = [k for k in frame.attrs["keys"] if k != SEED]
    metrics = frame.attrs["metrics"]
    groups = frame.groupby(keys, sort=False, dropna=False) if keys else [((), frame)]
    rows = []
    for values, group in groups:
        values = values if isinstance(values, tuple) else (values,)
        done = group[group["status"] == "completed"]
        row: dict[str, Any] = dict(zip(keys, values))
        row.update(runs=len(group), completed=len(done))
        for m in metrics:
            column = done[m].dropna()
            row[f"{m}_mean"] = float(column.mean()) if len(column) else math.nan
            row[f"{m}_std"] = float(column.std(ddof=1)) if len(column) > 1 else math.nan
        for cost in ("wall_s", "work_s"):
            row[f"{cost}_mean"] = float(done[cost].mean()) if done[cost].notna().any() else math.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    scored = table[table[f"{metric}_mean"].notna()] if metric else table.iloc[:0]
    best, index = None, None
    if len(scored):
        index = scored[f"{metric}_mean"].idxmax() if maximize else scored[f"{metric}_mean"].idxmin()
        best = table.loc[index].to_dict()
    table["best"] = ["*" if i == index else "" for i in table.index]
    return Summary(table=table, config_keys=keys, metric=metric, best=best)


def pm(mean: float, std: float, digits: int = 3) -> str:
    """`mean ± std` as text (`mean` alone for a single run, `-` for none)."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    return f"{mean:.{digits}f}" if std is None or math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def display_rows(summary: Summary, metrics: list[str]) -> list[dict[str, Any]]:
    """The summary as printable rows: configuration, runs, `mean ± std` per metric, best mark."""
    out = []
    for _, row in summary.table.iterrows():
        shown = {k: short(row[k]) for k in summary.config_keys}
        shown.update(runs=int(row["runs"]), completed=int(row["completed"]))
        shown.update({m: pm(row[f"{m}_mean"], row[f"{m}_std"]) for m in metrics})
        shown.update(wall_s=pm(row["wall_s_mean"], math.nan, 1), work_s=pm(row["work_s_mean"], math.nan, 1),
                     best=row["best"])
        out.append(shown)
    return out


def short(value: Any) -> Any:
    """An override's value for people: a float an Optuna sweep sampled to 4 significant digits."""
    if isinstance(value, str) and any(c in value for c in ".eE"):
        try:
            return f"{float(value):.4g}"
        except ValueError:
            return value
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The runs as rows for runs.csv: no value as None (an empty cell, never `nan`), trial counts as
    integers (pandas holds a column with a gap as floats)."""
    def plain(key: str, value: Any) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None  # a run that did not complete has no trial count, metric or time
        return int(value) if key == "trials" else value

    return [{k: plain(k, v) for k, v in row.items()} for row in frame.to_dict("records")]


def display_runs(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The runs table as printable rows: records() with override values shortened (runs.csv keeps
    them whole)."""
    keys = set(frame.attrs["keys"])
    return [{k: short(v) if k in keys else v for k, v in row.items()} for row in records(frame)]


def config_label(row: dict[str, Any], keys: list[str]) -> str:
    """A configuration as overrides (`strategy=random trainer.lr=0.1`; unset ones left out), `all runs`
    when nothing differs, or `(default strategy)` for the runs that set none of the keys."""
    if not keys:
        return "all runs"
    return " ".join(f"{k}={short(row[k])}" for k in keys if row[k] != "") or f"(default {', '.join(keys)})"
