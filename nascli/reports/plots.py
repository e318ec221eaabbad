"""The report's pictures, every run of a comparison in one figure: search curves per configuration,
and Pareto fronts. Same look as the run directories' own plots (nascli.run_plots)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from nascli.run_plots import finish
from nascli.reports.runs import Run
from nascli.runtime import metrics as by_name


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as handle:
            return list(csv.DictReader(handle))
    except (OSError, csv.Error, UnicodeDecodeError):
        return []


def _lines(path: Path) -> list[list[str]]:
    """A CSV file's rows as lists (none when it is missing or unreadable)."""
    try:
        with open(path, newline="") as handle:
            return list(csv.reader(handle))
    except (OSError, csv.Error, UnicodeDecodeError):
        return []


def _float(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def best_so_far(path: Path, lower_is_better: bool = False) -> tuple[list[int], list[float]]:
    """Trials and the best objective up to each (the lowest, for a lower-is-better objective), from a
    search's trials.csv (unscored trials keep the best)."""
    pick = min if lower_is_better else max
    trials, curve, best = [], [], (math.inf if lower_is_better else -math.inf)
    for row in _rows(path):
        value = _float(row.get("objective"))
        if not math.isnan(value):
            best = pick(best, value)
        try:
            trials.append(int(row["trial"]))
        except (KeyError, TypeError, ValueError):
            continue
        curve.append(best if math.isfinite(best) else math.nan)
    return trials, curve


def search_curves(groups: dict[str, list[Run]], path: Path) -> Path | None:
    """Best-so-far objective against trial: one colour per configuration, a thin line per seed and
    the mean over seeds in bold; each run's best in its objective's direction, the axis naming the
    objectives' metrics when one is lower-is-better or they differ. None when no run has a trials.csv."""
    curves = {label: [best_so_far(r.trials_csv, r.lower_is_better) for r in runs if r.trials_csv.is_file()]
              for label, runs in groups.items()}
    kinds = list(dict.fromkeys(r.objective_metric for runs in groups.values() for r in runs if r.trials_csv.is_file()))
    curves = {label: [c for c in found if c[0]] for label, found in curves.items()}
    if not any(curves.values()):
        return None
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for k, (label, found) in enumerate(c for c in curves.items() if c[1]):
        colour = f"C{k % 10}"
        for trials, curve in found:
            ax.step(trials, curve, where="post", color=colour, alpha=0.35, lw=1, marker=".", ms=4)
        length = min(len(t) for t, _ in found)
        mean = [sum(c[i] for _, c in found) / len(found) for i in range(length)]
        ax.step(found[0][0][:length], mean, where="post", color=colour, lw=2.2, marker="o", ms=5,
                label=f"{label} (mean of {len(found)})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ylabel = "best objective so far"
    if len(kinds) > 1 or any(by_name.lower_is_better(k) for k in kinds):
        ylabel += " (" + "; ".join(k + (", lower is better" if by_name.lower_is_better(k) else "") for k in kinds) + ")"
    lower = all(by_name.lower_is_better(k) for k in kinds)
    return finish(plt, fig, ax, path, "trial", ylabel, "Search curves per configuration",
                  "upper right" if lower else "lower right")


def pareto_fronts(groups: dict[str, list[Run]], path: Path) -> Path | None:
    """Every run's Pareto front (pareto.csv: metric against cost), coloured by configuration, the
    chosen result circled. None when no run wrote a front."""
    fronts = []
    for k, (label, runs) in enumerate(groups.items()):
        for run in runs:
            header, *body = _lines(run.pareto_csv) or [[]]
            if len(header) < 4 or not body:
                continue
            points = [{c: v for c, v in zip(header, row)} for row in body]
            fronts.append((k, label, run, header[2], header[3], points))
    if not fronts:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    labelled = set()
    for k, label, run, metric, cost, points in fronts:
        points.sort(key=lambda p: _float(p.get(cost)))
        xs, ys = [_float(p.get(cost)) for p in points], [_float(p.get(metric)) for p in points]
        ax.step(xs, ys, where="post", color=f"C{k % 10}", marker="o", ms=4, alpha=0.8,
                label=None if label in labelled else label)
        labelled.add(label)
        chosen = [p for p in points if p.get("chosen") in ("True", "true", "1")]
        ax.scatter([_float(p.get(cost)) for p in chosen], [_float(p.get(metric)) for p in chosen], s=110,
                   facecolors="none", edgecolors="k", linewidths=1.2, zorder=3)
    metric = fronts[0][3]
    lower = by_name.lower_is_better(metric)
    return finish(plt, fig, ax, path, fronts[0][4], f"{metric} (lower is better)" if lower else metric,
                  "Pareto fronts (circled: each run's result)", "upper right" if lower else "lower right")

