"""Benchmark the sample-based strategies on a benchmark table (default: the shipped `nb201`; `nb101`).

Every strategy, built from its own conf/strategy/<name>.yaml (the CLI's defaults), runs through the
search engine with the tabular evaluator, restricted to the table's architectures (a partial
table cannot score the rest; see nascli.spaces.subset). Prints mean ± std of the best validation
accuracy after 25/50/100/150 queries and the median number of queries to reach the table's top 1%,
and saves the curves as a plot.

    python scripts/bench_strategies.py [--table nb201|nb101|<csv>] [--space nb201|nb101] [--seeds 20] [--queries 150]

The space is the table's namesake when it has one (nb201, nb101), else --space; the tasks are all of
the table's unless --tasks names some.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from threadpoolctl import threadpool_limits

from nascli.evaluators.base import EvalContext, restricted_space
from nascli.benchmarks import table_path
from nascli.evaluators.tabular import CsvTable, TabularEvaluator
from nascli.hardware.target import target_option
from nascli.registry import SPACES
from nascli.runtime.config import build_option, option_node
from nascli.search.budget import Budget
from nascli.search.engine import SearchEngine, SearchRun
from nascli.strategies.base import SearchContext

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TABLE = "nb201"  # the table shipped with nascli
STRATEGIES = ("random", "evolution", "genetic", "reinforce", "bo")
CHECKPOINTS = (25, 50, 100, 150)


def no_data():
    raise RuntimeError("the tabular benchmark must never load a dataset")


def tabular(table: str, task: str, space: str = "nb201") -> TabularEvaluator:
    """The tabular evaluator of `task`, for the table's architectures (as `nas search` builds it)."""
    options = {"table": str(table), "task": task}
    searched = restricted_space(option_node("evaluator", "tabular", options), build_option("search_space", space))
    context = EvalContext(searched, 0, "cpu", None, load_data=no_data)
    return build_option("evaluator", "tabular", options, context=context)


def curve(evaluator: TabularEvaluator, strategy: str, seed: int, queries: int, prior=None, task=None) -> list[float]:
    """Best validation accuracy after each query of one search (started from a meta `prior` on
    `task` when given, as `nas search meta=<dir>` starts it)."""
    space = evaluator.context.space
    searcher = build_option("strategy", strategy, space=space, seed=seed)
    if prior is not None:
        searcher.warm_start(prior, task)
    with tempfile.TemporaryDirectory() as tmp:
        engine = SearchEngine(space, searcher, evaluator, target_option("none"), Budget(queries, None),
                              SearchContext("cpu", no_data), SearchRun(Path(tmp), {}, Console(quiet=True), plots=False))
        engine.run()
    return list(np.maximum.accumulate([row["val_accuracy"] for row in engine.trials.rows]))


def top_threshold(evaluator: TabularEvaluator) -> float:
    """The accuracy of the worst architecture in the task's top 1% (at least one architecture)."""
    values = sorted((m["val_accuracy"] for m in evaluator.table.index[evaluator.task].values()), reverse=True)
    return values[max(1, math.ceil(0.01 * len(values))) - 1]


def queries_to(curve_: list[float], threshold: float) -> float:
    return next((i + 1 for i, v in enumerate(curve_) if v >= threshold), math.inf)


def summary_row(name: str, curves: np.ndarray, threshold: float, seconds: float) -> list[str]:
    cells = [name]
    for q in CHECKPOINTS:
        if q <= curves.shape[1]:
            column = curves[:, q - 1]
            cells.append(f"{column.mean():.2f} ± {column.std():.2f}")
        else:
            cells.append("-")
    median = statistics.median(queries_to(list(c), threshold) for c in curves)
    cells.append(">" + str(curves.shape[1]) if math.isinf(median) else f"{median:g}")
    cells.append(f"{seconds:.1f}")
    return cells


def print_table(title: str, rows: list[list[str]], header: list[str] | None = None) -> None:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    header = header or ["strategy", *(f"@{q}" for q in CHECKPOINTS), "median q to top1%", "time s"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(title)
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    print()


def plot(results: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, (task, by_strategy) in zip(axes[0], results.items()):
        for name, curves in by_strategy.items():
            x = np.arange(1, curves.shape[1] + 1)
            mean, std = curves.mean(0), curves.std(0)
            ax.plot(x, mean, label=name)
            ax.fill_between(x, mean - std, mean + std, alpha=0.15)
        ax.set_title(f"{task}: best validation accuracy (mean ± std over seeds)")
        ax.set_xlabel("queries")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(bottom=max(ax.get_ylim()[0], float(min(c.mean(0)[4] for c in by_strategy.values())) - 1))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    # small matrices and tensors: threads only add overhead (and contention on shared machines)
    torch.set_num_threads(1)
    threadpool_limits(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=DEFAULT_TABLE, help="a shipped table's name or a CSV path")
    parser.add_argument("--space", default=None, help="the table's search space (default: the table's name, else nb201)")
    parser.add_argument("--tasks", nargs="+", default=None, help="default: every task of the table")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--plot", type=Path, default=REPO / "outputs" / "bench_strategies.png")
    args = parser.parse_args()

    space = args.space or (args.table if args.table in SPACES.names() else "nb201")
    tasks = args.tasks or CsvTable(table_path(args.table), build_option("search_space", space), None).tasks()
    results: dict[str, dict[str, np.ndarray]] = {}
    for task in tasks:
        evaluator = tabular(args.table, task, space)
        threshold = top_threshold(evaluator)
        rows, results[task] = [], {}
        for name in args.strategies:
            start = time.perf_counter()
            curves = np.array([curve(evaluator, name, seed, args.queries) for seed in range(args.seeds)])
            results[task][name] = curves
            rows.append(summary_row(name, curves, threshold, time.perf_counter() - start))
        n = len(evaluator.table.index[task])
        print_table(f"{task}: {n} architectures, best {max(m['val_accuracy'] for m in evaluator.table.index[task].values()):.2f}, "
                    f"top 1% >= {threshold:.2f}; {args.seeds} seeds x {args.queries} queries", rows)
    plot(results, args.plot)
    print(f"curves: {args.plot}")


if __name__ == "__main__":
    main()
