"""Fine-tuning on digits: train on classes 0-4, then adapt to classes 5-9 with each finetune mode,
against training the same network from scratch with the same recipe.

    python scripts/bench_finetune.py [--genotype DARTS_V2] [--channels 16] [--layers 8]
                                     [--pretrain-epochs 20] [--epochs 5] [--samples N] [--seeds 3] [--threads 1]

Every step is a real `nas retrain` in a fresh process, as users run it:

    nas retrain genotype=DARTS_V2 dataset.classes=[0,1,2,3,4] ...                 # the pretrained network
    nas retrain init=<that run> finetune=<mode> dataset.classes=[5,6,7,8,9] ...   # full, head, bn, lora
                                                       # (full also trains from scratch: compare_scratch)

Accuracies are on the test split of classes 5-9 (percent, mean ± std over seeds); time is training
seconds (report.json's train_s) on this machine, with --threads torch threads (1 by default: on a
busy 2-core machine two threads ran 10-20x slower); trainable parameters are what the mode updates.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_strategies import print_table  # noqa: E402

MODES = ("full", "head", "bn", "lora")
OLD, NEW = "[0,1,2,3,4]", "[5,6,7,8,9]"


def nas_retrain(run_dir: Path, threads: int, *overrides: str) -> dict:
    """`nas retrain <overrides>` into run_dir, on `threads` torch threads; its report.json."""
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, "-m", "nascli", "retrain", *overrides, f"hydra.run.dir={run_dir}"],
                          cwd=run_dir.parent, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"`nas retrain {' '.join(overrides)}` failed:\n{proc.stderr[-3000:]}")
    return json.loads((run_dir / "report.json").read_text())


def cell(values: list[float], digits: int = 1) -> str:
    mean = statistics.fmean(values)
    return f"{mean:.{digits}f}" if len(values) < 2 else f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--genotype", default="DARTS_V2", help="what to train (a published name, genotype.json or run)")
    parser.add_argument("--channels", type=int, default=16, help="network.channels")
    parser.add_argument("--layers", type=int, default=8, help="network.layers (darts genotypes)")
    parser.add_argument("--pretrain-epochs", type=int, default=20, help="epochs on classes 0-4")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each fine-tune, and of the scratch run")
    parser.add_argument("--samples", type=int, default=None, help="training images of classes 5-9 (default: all)")
    parser.add_argument("--seeds", type=int, default=3, help="fine-tune seeds (one pretrained network)")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated finetune modes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run (OMP_NUM_THREADS)")
    args = parser.parse_args()

    size = [f"+network.channels={args.channels}"] + ([f"+network.layers={args.layers}"] if args.layers else [])
    samples = [] if args.samples is None else [f"dataset.max_train_samples={args.samples}"]
    modes = [m for m in args.modes.split(",") if m]
    results: dict[str, list[dict]] = {m: [] for m in [*modes, "scratch"]}
    with tempfile.TemporaryDirectory() as tmp:
        base = nas_retrain(Path(tmp) / "pretrain", args.threads, f"genotype={args.genotype}", f"dataset.classes={OLD}",
                           f"trainer.epochs={args.pretrain_epochs}", "plots=false", *size)
        print(f"pretrained {base['genotype'][:70]} on classes 0-4: test {base['test_accuracy']:.1f}% "
              f"after {args.pretrain_epochs} epochs ({base['train_s']:.1f} s, {base['params_m'] * 1e6:,.0f} params)\n")
        for seed in range(args.seeds):
            for mode in modes:
                compare = mode == modes[0]  # one scratch run per seed, beside the first mode
                report = nas_retrain(Path(tmp) / f"{mode}-{seed}", args.threads, f"init={Path(tmp) / 'pretrain'}",
                                     f"finetune={mode}", f"dataset.classes={NEW}", f"trainer.epochs={args.epochs}",
                                     f"seed={seed}", f"finetune.compare_scratch={str(compare).lower()}", "plots=false",
                                     *samples)
                results[mode].append({"test": report["test_accuracy"], "val": report["val_accuracy"],
                                      "trainable": report["trainable_params"], "total": report["total_params"],
                                      "time": report["train_s"]})
                if compare:
                    scratch = report["scratch"]
                    results["scratch"].append({"test": scratch["test_accuracy"], "val": scratch["val_accuracy"],
                                               "trainable": scratch["trainable_params"],
                                               "total": scratch["total_params"], "time": scratch["train_s"]})
    rows = []
    for name, runs in results.items():
        trainable, total = runs[0]["trainable"], runs[0]["total"]
        rows.append([name, cell([r["test"] for r in runs]), cell([r["val"] for r in runs]), f"{trainable:,}",
                     f"{100 * trainable / total:.1f}%", cell([r["time"] for r in runs])])
    print_table(f"digits 0-4 -> 5-9: {args.genotype} (C={args.channels}), {args.epochs} epochs, "
                f"{args.seeds} seed(s)", rows,
                ["run", "test acc %", "val acc %", "trainable", "of total", "train s"])


if __name__ == "__main__":
    main()
