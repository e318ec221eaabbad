"""Benchmark meta-learning by transfer on a NAS-Bench-201 table (default: the shipped `nb201`).

For each ordered pair of the table's tasks (source -> target): meta-train the `transfer` prior on
the source task's rows (conf/method/transfer.yaml settings, as `nas meta-train method=transfer
tasks=table tasks.include=[source]` does), then search the target with each strategy for
`--seeds` seeds, with and without the prior. `--hide-top F` removes the target's top F share of
architectures from the source rows first, so the prior cannot simply recall them. Prints the median number of queries to reach the
target's top 1% and the mean best validation accuracy after 10, 25 and 50 queries; saves the curves.

    python scripts/bench_meta.py [--table nb201|<csv>] [--seeds 20] [--queries 100] [--hide-top 0.05]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_strategies import DEFAULT_TABLE, REPO, curve, print_table, queries_to, tabular, top_threshold  # noqa: E402

from nascli.meta.sources import TableTasks  # noqa: E402
from nascli.meta.tasks import describe  # noqa: E402
from nascli.meta.transfer import TransferMethod, fit_transfer  # noqa: E402
from nascli.runtime.config import build_option  # noqa: E402
from nascli.spaces.base import SearchSpace  # noqa: E402

CHECKPOINTS = (10, 25, 50)


def transfer_method() -> TransferMethod:
    """The CLI's defaults (conf/method/transfer.yaml), so the benchmark measures what users get."""
    return build_option("method", "transfer")


def source_histories(table: str, source: str, target_evaluator, hide_top: float, space: SearchSpace) -> list:
    """The source task's rows, less the architectures in the target's top `hide_top` share."""
    histories = TableTasks(str(table), [source]).histories(space)
    if hide_top <= 0:
        return histories
    target = target_evaluator.table.index[target_evaluator.task]
    ranked = sorted(target, key=lambda arch: -target[arch]["val_accuracy"])
    hidden = set(ranked[: max(1, math.ceil(hide_top * len(ranked)))])
    history = histories[0]
    keep = [i for i, s in enumerate(history.arch_strs) if space.from_str(s) not in hidden]
    history.arch_strs = [history.arch_strs[i] for i in keep]
    history.accuracies = [history.accuracies[i] for i in keep]
    return histories


def row(label: str, curves: np.ndarray, threshold: float, seconds: float) -> list[str]:
    hits = [queries_to(list(c), threshold) for c in curves]
    median = statistics.median(hits)
    cells = [label, ">" + str(curves.shape[1]) if math.isinf(median) else f"{median:g}",
             f"{sum(math.isfinite(h) for h in hits)}/{len(hits)}"]
    cells += [f"{curves[:, q - 1].mean():.2f} ± {curves[:, q - 1].std():.2f}" if q <= curves.shape[1] else "-"
              for q in CHECKPOINTS]
    return cells + [f"{seconds:.1f}"]


HEADER = ["strategy", "median q to top1%", "reached", *(f"@{q}" for q in CHECKPOINTS), "time s"]


def plot(results: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, (pair, by_label) in zip(axes[0], results.items()):
        for label, curves in by_label.items():
            x = np.arange(1, curves.shape[1] + 1)
            ax.plot(x, curves.mean(0), label=label, linestyle="-" if "prior" in label else "--")
        ax.set_title(f"{pair}: best validation accuracy (mean over seeds)")
        ax.set_xlabel("queries")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(bottom=float(min(c.mean(0)[0] for c in by_label.values())) - 0.5)
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    torch.set_num_threads(1)  # small tensors: threads only add overhead
    threadpool_limits(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=DEFAULT_TABLE, help="a shipped table's name or a CSV path")
    parser.add_argument("--tasks", nargs="+", default=["cifar10", "cifar100"])
    parser.add_argument("--strategies", nargs="+", default=["evolution", "bo"])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--hide-top", type=float, default=0.0,
                        help="drop the target's top share of architectures from the source rows")
    parser.add_argument("--plot", type=Path, default=REPO / "outputs" / "bench_meta.png")
    args = parser.parse_args()

    space, results = build_option("search_space", "nb201"), {}
    for source in args.tasks:
        for target in [t for t in args.tasks if t != source]:
            evaluator = tabular(args.table, target)
            start = time.perf_counter()
            histories = source_histories(args.table, source, evaluator, args.hide_top, space)
            prior, summary = fit_transfer(space, histories, transfer_method(), seed=0)
            fit_s = time.perf_counter() - start
            threshold = top_threshold(evaluator)
            pair, rows = f"{source} -> {target}", []
            results[pair] = {}
            for name in args.strategies:
                for label, use in ((name, None), (f"{name} + prior", prior)):
                    start = time.perf_counter()
                    curves = np.array([curve(evaluator, name, seed, args.queries, use, describe(target))
                                       for seed in range(args.seeds)])
                    results[pair][label] = curves
                    rows.append(row(label, curves, threshold, time.perf_counter() - start))
            held = ", ".join(f"{k} {v:.3f}" for k, v in summary["heldout_spearman"].items())
            hidden = f", without the target's top {args.hide_top:.0%}" if args.hide_top > 0 else ""
            print_table(f"{pair}: prior fitted on {len(histories[0].arch_strs)} {source} rows{hidden} in {fit_s:.1f} s "
                        f"(held-out Spearman {held}); "
                        f"target top 1% >= {threshold:.2f}; {args.seeds} seeds x {args.queries} queries", rows, HEADER)
    plot(results, args.plot)
    print(f"curves: {args.plot}")


if __name__ == "__main__":
    main()
