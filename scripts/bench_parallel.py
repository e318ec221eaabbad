"""What more workers buy one search: random, evolution, bo and asha on the nb201 and nb101 tables,
with 1, 4, 16 and 64 workers on the engine's simulated clock (search.executor=simulated).

Each candidate finishes at its start plus its training cost, here proportional to its FLOPs (the
shipped tables hold no training times: `evaluator.cost_column=flops_m`); times are printed in mean
trainings (the table's mean FLOPs), so 1.0 is what an average candidate takes on one worker. For
every strategy, workers count and seed the script prints:

- the simulated wall-clock time until a candidate of the table's top 1% has been trained in full
  (median over seeds; "reached": seeds that found one), and the speed-up over 1 worker (the ratio of
  the medians);
- the best accuracy (the table's, after the full training) among the first candidates proposed
  whose trainings add up to the same total compute, whatever the workers: `--compute` mean trainings;
- how long a top-1% candidate itself trains: the floor under any time to the top 1%, which bounds
  the speed-up of a search whose one-worker time is only a few dozen trainings.

asha needs accuracies after fewer epochs, which the tables do not hold. The script gives the table
a simulated learning curve (stated here, measured in the output): after f of the F epochs a
candidate is `(sqrt(F / f) - 1) * noise * std * (1 + z)` points below its final accuracy, `std`
the table's spread of accuracies and z a fixed normal draw per architecture (architectures learn
at different speeds, so short trainings rank them imperfectly), and costs f / F of a full training.
Its rank correlation with the final accuracies at each rung is printed; --noise sets `noise`.

    python scripts/bench_parallel.py                      # 20 seeds, both tables: a few minutes on 2 cores
    python scripts/bench_parallel.py --quick              # 3 seeds, workers 1 and 16: under a minute
    python scripts/bench_parallel.py --tables nb201 --strategies asha --seeds 5 --workers 1 16
"""

from __future__ import annotations

import argparse
import hashlib
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy.stats import spearmanr
from threadpoolctl import threadpool_limits

from nascli.evaluators.base import EvalContext, restricted_space
from nascli.evaluators.tabular import TabularEvaluator
from nascli.hardware.target import target_option
from nascli.runtime.config import build_option, option_node
from nascli.search.budget import Budget
from nascli.search.engine import SearchEngine, SearchRun
from nascli.search.executors.simulated import SimulatedClock
from nascli.strategies.base import SearchContext

STRATEGIES = ("random", "evolution", "bo", "asha")
TABLES = {"nb201": ("nb201", "cifar10", 200, 7), "nb101": ("nb101", "cifar10", 108, 4)}  # space, task, F, lowest rung
GOALS = {"evolution": 10.0, "asha": 10.0, "bo": 6.0}  # issue 22: speed-up with 16 workers


def no_data():
    raise RuntimeError("a tabular benchmark must never load a dataset")


class LearningCurves:
    """A table's evaluator that can also train for fewer epochs, on the simulated learning curve of
    the module docstring; everything else is the table evaluator's."""

    def __init__(self, table: TabularEvaluator, epochs: int, noise: float) -> None:
        self.table, self.epochs = table, epochs
        accuracies = [m["val_accuracy"] for m in table.table.index[table.task].values()]
        self.scale = noise * float(np.std(accuracies))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.table, name)

    def max_fidelity(self) -> int:
        return self.epochs

    def speed(self, arch) -> float:
        """z of the docstring: how much slower than average this architecture learns (fixed per arch)."""
        digest = hashlib.sha256(self.context.space.to_str(arch).encode()).digest()
        return float(np.random.default_rng(int.from_bytes(digest[:8], "little")).normal())

    def at(self, arch, final: float, fidelity: int) -> float:
        return final - (math.sqrt(self.epochs / fidelity) - 1.0) * self.scale * (1.0 + self.speed(arch))

    def evaluate(self, arch, fidelity: int | None = None) -> dict[str, float]:
        metrics = self.table.evaluate(arch)
        fidelity = self.epochs if fidelity is None else fidelity
        return {**metrics, "val_accuracy": self.at(arch, metrics["val_accuracy"], fidelity),
                "cost_s": metrics["cost_s"] * fidelity / self.epochs}


def evaluator(name: str, noise: float) -> LearningCurves:
    """The table's evaluator as `nas search evaluator=tabular evaluator.table=<name>
    evaluator.cost_column=flops_m` builds it (restricted to the table's architectures)."""
    space, task, epochs, _ = TABLES[name]
    options = {"table": name, "task": task, "cost_column": "flops_m"}
    searched = restricted_space(option_node("evaluator", "tabular", options), build_option("search_space", space))
    table = build_option("evaluator", "tabular", options, context=EvalContext(searched, 0, "cpu", None, load_data=no_data))
    return LearningCurves(table, epochs, noise)


def search(curves: LearningCurves, strategy: str, seed: int, workers: int, clock: float,
           options: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of one search on the simulated clock, stopped when the clock passes `clock`."""
    space = curves.context.space
    searcher = build_option("strategy", strategy, options, space=space, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        # writes=False: nothing is resumed here, so no run files are rewritten after every trial
        run = SearchRun(Path(tmp), {}, Console(quiet=True), plots=False, executor=SimulatedClock(curves, workers),
                        writes=False)
        engine = SearchEngine(space, searcher, curves, target_option("none"), Budget(None, clock),
                              SearchContext("cpu", no_data, max_fidelity=curves.max_fidelity()), run)
        engine.run()
        return list(engine.trials.rows)


def measure(rows: list[dict[str, Any]], final: dict[str, float], threshold: float, epochs: int, unit: float,
            compute: float) -> tuple[float, float]:
    """(clock time until a top-1% candidate was trained in full, best final accuracy within
    `compute`), in mean trainings. Compute counts in the order candidates were proposed (every one
    proposed runs to its end), so that equal compute is the same candidates for a strategy that does
    not learn from results (random), whatever the workers: counting in completion order instead would
    leave out the long trainings still running when the cheap ones were done."""
    full = [r for r in rows if int(r.get("fidelity") or epochs) == epochs]
    reached = next((r["finished_s"] / unit for r in full if final[r["arch_str"]] >= threshold), math.inf)
    spent, best = 0.0, -math.inf
    for row in sorted(rows, key=lambda r: r["proposed"]):
        spent += float(row["cost_s"]) / unit
        if spent > compute:
            break
        if int(row.get("fidelity") or epochs) == epochs:
            best = max(best, final[row["arch_str"]])
    return reached, best


def fastest(final: dict[str, float], cost: dict[str, float], threshold: float, unit: float) -> str:
    """How long the cheapest and the median top-1% candidate train: no number of workers finds one sooner."""
    costs = sorted(cost[a] / unit for a, v in final.items() if v >= threshold)
    return f"{costs[0]:.1f} (cheapest) to {statistics.median(costs):.1f} (median)"


def rank_correlations(curves: LearningCurves, lowest: int) -> str:
    """The simulated curve's Spearman correlation with the final accuracies, at asha's lower rungs."""
    asha = build_option("strategy", "asha", {"min_fidelity": lowest}, space=curves.context.space, seed=0)
    asha.setup(SearchContext("cpu", no_data, max_fidelity=curves.max_fidelity()))
    archs = list(curves.table.table.index[curves.task].items())
    finals = [m["val_accuracy"] for _, m in archs]
    return ", ".join(f"{f} epochs {spearmanr([curves.at(a, m['val_accuracy'], f) for a, m in archs], finals)[0]:.2f}"
                     for f in asha.fidelities[:-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    parser.add_argument("--compute", type=float, default=150.0, help="total compute of each search, in mean trainings")
    parser.add_argument("--noise", type=float, default=0.15, help="the simulated learning curve's spread (asha)")
    parser.add_argument("--quick", action="store_true", help="3 seeds, workers 1 and 16")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.workers = 3, [1, 16]
    workers = sorted(set(args.workers) | {1})
    console = Console()
    began = time.perf_counter()
    with threadpool_limits(1):
        for name in args.tables:
            curves = evaluator(name, args.noise)
            _, task, epochs, lowest = TABLES[name]
            index = curves.table.table.index[task]
            final = {curves.context.space.to_str(a): m["val_accuracy"] for a, m in index.items()}
            values = sorted(final.values(), reverse=True)
            threshold = values[max(1, math.ceil(0.01 * len(values))) - 1]
            unit = float(np.mean([m["cost_s"] for m in index.values()]))
            cost = {curves.context.space.to_str(a): m["cost_s"] for a, m in index.items()}
            table = Table(title=f"{name} ({task}, {len(values)} architectures): top 1% is >= {threshold:.2f}; "
                                f"{args.seeds} seed(s); times in mean trainings; {args.compute:g} trainings of compute")
            for column in ("strategy", "workers", "reached", "time to top 1% (median)", "speed-up",
                           "accuracy at equal compute"):
                table.add_column(column, justify="left" if column == "strategy" else "right")
            for strategy in args.strategies:
                options = {"min_fidelity": lowest} if strategy == "asha" else {}
                medians: dict[int, float] = {}
                for n in workers:
                    # the clock a search may run: its share of the compute (what is in flight then still ends)
                    clock = args.compute / n * unit
                    results = [measure(search(curves, strategy, seed, n, clock, options), final, threshold, epochs,
                                       unit, args.compute) for seed in range(args.seeds)]
                    times = [t for t, _ in results]
                    accuracies = [a for _, a in results]
                    medians[n] = statistics.median(times)
                    known = math.isfinite(medians[1]) and math.isfinite(medians[n])
                    speed = medians[1] / medians[n] if known else math.nan
                    goal = GOALS.get(strategy) if n == 16 and known else None
                    mark = "" if goal is None else (" [green]goal met[/]" if speed >= goal else " [red]< goal[/]")
                    table.add_row(strategy if n == workers[0] else "", str(n),
                                  f"{sum(math.isfinite(t) for t in times)}/{args.seeds}", f"{medians[n]:.1f}",
                                  f"{speed:.1f}x{mark}" if known else "-",
                                  f"{statistics.mean(accuracies):.2f} ± {statistics.pstdev(accuracies):.2f}")
                table.add_section()
            console.print(table)
            console.print(f"A top-1% candidate of {name} trains in {fastest(final, cost, threshold, unit)} mean trainings: "
                          f"no number of workers reaches the top 1% sooner than one of them takes.")
            if "asha" in args.strategies:
                console.print(f"asha's simulated learning curve on {name}, rank correlation with the final accuracy: "
                              f"{rank_correlations(curves, lowest)}")
    console.print(f"{time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
