"""Multi-fidelity strategies against full-fidelity random search under one time budget, printed as tables.

Each (strategy, seed) is one real `nas search ... budget.seconds=S budget.trials=null` on the
offline digits data (default trainer: the 8-epoch proxy), in its own process. A search's accuracy
is its best validation accuracy after the full training (8 epochs); a multi-fidelity search's
briefer trainings do not count. "to X%" is the search time until a full training first reached X%.

    python scripts/bench_fidelity.py                         # 5 seeds, 60 s each, random/sh/hyperband/bohb
    python scripts/bench_fidelity.py --seeds 2 --seconds 10  # quick
    python scripts/bench_fidelity.py --set strategy.eta=2    # any override, for every strategy but random
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console

from nascli.runtime.console import table


def search(strategy: str, seed: int, seconds: float, extra: list[str], run_dir: Path) -> list[dict]:
    """One search; its trials.csv rows."""
    command = [sys.executable, "-m", "nascli", "search", f"strategy={strategy}", f"seed={seed}",
               f"budget.seconds={seconds}", "budget.trials=null", "plots=false", f"hydra.run.dir={run_dir}",
               f"paths.data_dir={run_dir.parent / 'data'}", *extra]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr[-2000:]}")
    with open(run_dir / "trials.csv") as handle:
        return list(csv.DictReader(handle))


def summary(rows: list[dict], full: int, target: float) -> dict:
    """Best full-fidelity accuracy, when the target was first reached, and what was trained."""
    def fidelity(row: dict) -> int:
        return int(row["fidelity"]) if row.get("fidelity") else full

    complete = [r for r in rows if fidelity(r) == full and r["val_accuracy"]]
    reached = [float(r["elapsed_s"]) for r in complete if float(r["val_accuracy"]) >= target]
    return {"best": max((float(r["val_accuracy"]) for r in complete), default=float("nan")),
            "to_target_s": min(reached, default=float("inf")), "full": len(complete),
            "trainings": len(rows), "candidates": len({r["arch_str"] for r in rows}),
            "epochs": sum(fidelity(r) for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", nargs="+", default=["random", "sh", "hyperband", "bohb"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0, help="budget.seconds of every search")
    parser.add_argument("--target", type=float, default=97.0, help="the accuracy (%%) whose time is reported")
    parser.add_argument("--full", type=int, default=8, help="the full training's epochs (trainer.epochs)")
    parser.add_argument("--set", nargs="*", default=[], help="overrides for the multi-fidelity strategies")
    args = parser.parse_args()

    console = Console(width=150)
    per_seed, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.strategies:
            extra = [f"trainer.epochs={args.full}", *([] if name == "random" else args.set)]
            for seed in range(args.seeds):
                rows = search(name, seed, args.seconds, extra, Path(tmp) / f"{name}-{seed}")
                result = summary(rows, args.full, args.target)
                results.setdefault(name, []).append(result)
                per_seed.append({"strategy": name, "seed": seed, **result})
                console.print(f"{name} seed {seed}: best {result['best']:.2f}%  to {args.target:g}%: "
                              f"{result['to_target_s']:.1f} s", highlight=False)
    rows = []
    for name, runs in results.items():
        best = [r["best"] for r in runs]
        times = sorted(r["to_target_s"] for r in runs)
        rows.append({"strategy": name, "seeds": len(runs), "best % (median)": statistics.median(best),
                     "best % (mean)": statistics.fmean(best),
                     "best % (sd)": statistics.stdev(best) if len(best) > 1 else 0.0,
                     f"to {args.target:g}% s (median)": statistics.median(times),
                     f"reached {args.target:g}%": sum(t < float("inf") for t in times),
                     "full trainings": statistics.fmean(r["full"] for r in runs),
                     "candidates": statistics.fmean(r["candidates"] for r in runs),
                     "epochs trained": statistics.fmean(r["epochs"] for r in runs)})
    console.print(table("every run", per_seed, list(per_seed[0]), digits=2))
    console.print(table(f"digits, {args.full}-epoch proxy, budget.seconds={args.seconds:g}, {args.seeds} seeds",
                        rows, list(rows[0]), digits=2))


if __name__ == "__main__":
    main()
