"""Pictures saved in run directories: search curve, training curves, confusion matrix."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nascli.runtime import metrics
from nascli.runtime.files import save_figure


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def search_curve(rows: list[dict[str, Any]], path: Path, title: str,
                 ylabel: str = "objective (validation accuracy, %)", lower_is_better: bool = False) -> Path:
    """Objective of every trial and the best so far, against trials: the highest so far, or the
    lowest for a lower-is-better objective (a perplexity: the curve falls). A multi-fidelity
    search's trials are coloured by the epochs they were trained, and the best so far counts only
    the highest fidelity (fewer epochs give lower accuracies that do not compare)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    value = lambda r: r["objective"] if r.get("objective") is not None else math.nan  # noqa: E731
    fidelities = sorted({r["fidelity"] for r in rows if r.get("fidelity") is not None})
    if fidelities:
        for fidelity in fidelities:
            shown = [r for r in rows if r.get("fidelity") == fidelity]
            ax.scatter([r["trial"] for r in shown], [value(r) for r in shown], s=14, alpha=0.7,
                       label=f"{fidelity} epoch{'s' if fidelity != 1 else ''}")
    else:
        ax.scatter([r["trial"] for r in rows], [value(r) for r in rows], s=14, alpha=0.6, label="trial")
    counted = [r for r in rows if not fidelities or r.get("fidelity") == fidelities[-1]]
    pick = min if lower_is_better else max
    best, xs, curve = (math.inf if lower_is_better else -math.inf), [], []
    for row in counted:
        best = pick(best, value(row)) if not math.isnan(value(row)) else best
        xs.append(row["trial"])
        curve.append(best if math.isfinite(best) else math.nan)
    if xs and rows[-1]["trial"] > xs[-1]:  # carry the best on to the last trial
        xs.append(rows[-1]["trial"])
        curve.append(curve[-1])
    ax.step(xs, curve, where="post", color="C3",
            label="best so far" + (f" ({fidelities[-1]} epochs)" if fidelities else ""))
    ax.set_xlabel("trial")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best" if fidelities else "upper right" if lower_is_better else "lower right")
    path = save_figure(path, fig)
    plt.close(fig)
    return path


def training_curves(history: list[dict[str, float]], path: Path, title: str) -> Path:
    """Train and validation accuracy per epoch (perplexity for a language model's history)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = [h["epoch"] for h in history]
    key = "accuracy" if "train_accuracy" in history[0] else "perplexity"
    ax.plot(epochs, [h[f"train_{key}"] for h in history], label="train")
    if any(not math.isnan(h[f"val_{key}"]) for h in history):
        ax.plot(epochs, [h[f"val_{key}"] for h in history], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)" if key == "accuracy" else "perplexity (lower is better)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    path = save_figure(path, fig)
    plt.close(fig)
    return path


def confusion_matrix(matrix: Any, class_names: list[str], path: Path, title: str) -> Path:
    """Confusion matrix as a heat map with counts (rows: true class, columns: predicted)."""
    plt = _pyplot()
    n = len(class_names)
    size = max(4.0, min(14.0, 0.5 * n + 2))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    if n <= 30:
        ax.set_xticks(range(n), class_names, rotation=90)
        ax.set_yticks(range(n), class_names)
        peak = max(int(matrix.max()), 1)
        for i in range(n):
            for j in range(n):
                value = int(matrix[i][j])
                if value:
                    ax.text(j, i, value, ha="center", va="center", fontsize=7,
                            color="white" if value > peak / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    path = save_figure(path, fig)
    plt.close(fig)
    return path


def meta_training(losses: list[float], path: Path, title: str) -> Path:
    """The meta-learner's training loss per step."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(range(1, len(losses) + 1), losses)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (MSE of standardised accuracy)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    path = save_figure(path, fig)
    plt.close(fig)
    return path


def alpha_heatmap(weights: list[list[float]], edges: list[str], ops: list[str], path: Path, title: str) -> Path:
    """Architecture weights of one cell type as a heat map: edges (rows) by candidate ops (columns)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.0 * len(ops) + 2.5, 0.35 * len(edges) + 1.8))
    image = ax.imshow(weights, cmap="viridis", aspect="auto")  # own colour range: early weights are all near 1/ops
    ax.set_xticks(range(len(ops)), ops, rotation=45, ha="right")
    ax.set_yticks(range(len(edges)), edges)
    for i, row in enumerate(weights):
        best = max(range(len(row)), key=row.__getitem__)
        ax.text(best, i, f"{row[best]:.3f}", ha="center", va="center", fontsize=7, color="black")
    ax.set_xlabel("op")
    ax.set_ylabel("edge (node<-input)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="softmax weight")
    path = save_figure(path, fig)
    plt.close(fig)
    return path


def alpha_evolution(history: list[list[list[float]]], ops: list[str], path: Path, title: str) -> Path:
    """Mean weight of every candidate op over a cell's edges, per epoch: how the mixture evolved."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = range(1, len(history) + 1)
    for k, op in enumerate(ops):
        ax.plot(epochs, [sum(row[k] for row in w) / max(len(w), 1) for w in history], marker=".", label=op)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean softmax weight over edges")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    path = save_figure(path, fig)
    plt.close(fig)
    return path


def reptile_progress(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Accuracy after adaptation to fresh tasks, against meta-training iterations."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["iteration"] for r in rows], [r["adapted_accuracy"] for r in rows], marker="o")
    ax.set_xlabel("meta-iteration (tasks seen)")
    ax.set_ylabel("accuracy after adaptation (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    path = save_figure(path, fig)
    plt.close(fig)
    return path


def pareto_front(rows: list[dict[str, Any]], front: list[dict[str, Any]], chosen: dict[str, Any], metric: str,
                 cost: str, path: Path, title: str) -> Path:
    """Every scored trial by cost and metric, the non-dominated ones joined, the result marked; the
    metric's axis says which way is better (a lower-is-better metric's front falls with cost)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    scored = [r for r in rows if r.get(metric) is not None and r.get(cost) is not None
              and not math.isnan(float(r[metric]))]
    feasible = [r for r in scored if r.get("objective") is not None]
    infeasible = [r for r in scored if r.get("objective") is None]
    ax.scatter([r[cost] for r in feasible], [r[metric] for r in feasible], s=14, alpha=0.5, label="trial")
    if infeasible:
        ax.scatter([r[cost] for r in infeasible], [r[metric] for r in infeasible], s=14, alpha=0.5, marker="x",
                   color="grey", label="infeasible")
    ax.step([r[cost] for r in front], [r[metric] for r in front], where="post", color="C3", marker="o", ms=4,
            label="Pareto front")
    ax.scatter([chosen[cost]], [chosen[metric]], s=120, facecolors="none", edgecolors="k", linewidths=1.5,
               label=f"result (trial {chosen['trial']})", zorder=3)
    lower = metrics.lower_is_better(metric)
    ylabel = f"{metric} (lower is better)" if lower else metric
    return finish(plt, fig, ax, path, cost, ylabel, title, "upper right" if lower else "lower right")


def finish(plt: Any, fig: Any, ax: Any, path: Path, xlabel: str, ylabel: str, title: str,
           legend: str = "lower right") -> Path:
    """Label, grid and legend the axes (legend lower right unless told), save the figure and close it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc=legend, fontsize=8)
    saved = save_figure(path, fig)
    plt.close(fig)
    return saved
