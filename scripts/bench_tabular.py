"""Does architecture search pay on tables? The mlp space searched at the default budget against
scikit-learn's HistGradientBoostingClassifier (default settings) and LogisticRegression, on the
same splits, over several seeds (each its own split and search seed).

    python scripts/bench_tabular.py [--datasets breast_cancer,wine] [--seeds 10] [--strategy random]
                                    [--trials 12] [--threads 1]

Every run is a real `nas search dataset=<d> search_space=mlp seed=<s> dataset.split_seed=<s>` in a
fresh process, whose report.json holds the searched network's test accuracy (trained once from
scratch by the search's trainer) beside both baselines'. Printed: mean ± std of test accuracy (%)
over the seeds, how often the search beat the better baseline, and the search's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_strategies import print_table  # noqa: E402

MODELS = ("searched", "hist_gradient_boosting", "logistic_regression")


def search(dataset: str, seed: int, strategy: str, trials: int, threads: int, root: Path) -> dict:
    """One search; (test accuracy per model, seconds)."""
    run_dir = root / f"{dataset}-{seed}"
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nascli", "search", f"dataset={dataset}", "search_space=mlp",
                           f"strategy={strategy}", f"budget.trials={trials}", f"seed={seed}", f"dataset.split_seed={seed}",
                           "plots=false", f"hydra.run.dir={run_dir}"], cwd=root, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"search on {dataset} (seed {seed}) failed:\n{proc.stderr[-3000:]}")
    report = json.loads((run_dir / "report.json").read_text())
    accuracy = {row["model"]: row["test_accuracy"] for row in report["baselines"]["models"]}
    return {"accuracy": accuracy, "search_s": report.get("elapsed_s") or time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="breast_cancer,wine")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--strategy", default="random")
    parser.add_argument("--trials", type=int, default=12, help="budget.trials (12: the default budget)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per search")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets.split(","):
            runs = [search(dataset, seed, args.strategy, args.trials, args.threads, Path(tmp)) for seed in range(args.seeds)]
            acc = {m: np.array([r["accuracy"][m] for r in runs], dtype=float) for m in MODELS}
            best_baseline = np.maximum(acc["hist_gradient_boosting"], acc["logistic_regression"])
            wins = int((acc["searched"] > best_baseline + 1e-9).sum())
            ties = int((np.abs(acc["searched"] - best_baseline) <= 1e-9).sum())
            times = np.array([r["search_s"] for r in runs])
            rows.append([dataset, *(f"{acc[m].mean():.2f} ± {acc[m].std():.2f}" for m in MODELS),
                         f"{wins}/{ties}/{args.seeds - wins - ties}", f"{times.mean():.1f}"])
    print_table(f"test accuracy (%), mean ± std over {args.seeds} seeds (split and search); mlp space, "
                f"strategy={args.strategy}, {args.trials} trials", rows,
                ["dataset", "searched mlp", "hist gradient boosting", "logistic regression",
                 "search won/tied/lost vs better baseline", "search s"])


if __name__ == "__main__":
    main()
