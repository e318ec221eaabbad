"""Did the search help? A searched network against standard networks (ResNet-18, MobileNetV3-Small,
EfficientNet-B0) trained with the same recipe, data, splits and seed, on digits and on a generated
folder of images.

    python scripts/bench_baselines.py [--datasets digits,folder] [--trials 8] [--epochs 10] [--seed 0]
                                      [--per-class 60] [--image-size 16] [--baselines resnet18,...] [--threads 1]

Every step is a real command in a fresh process, as users run them:

    nas search dataset=<d> budget.trials=<trials>                         # the default search: random, nb201
    nas retrain genotype=<that run> dataset=<d> trainer.epochs=<epochs>   # the searched network
    nas retrain baseline=<name> dataset=<d> trainer.epochs=<epochs>       # each baseline, the same recipe
    nas evaluate checkpoint=<each retrain run>                            # accuracy with its 95% interval, cost

The folder dataset is class folders of PNGs of mixed sizes whose classes differ in mean colour and
texture (generated with Pillow, seeded), read with dataset=folder at --image-size px. Latency is
`nas evaluate`'s (hardware=none: batch 1 on this CPU, --threads torch threads), params and FLOPs
(multiply-accumulates) in millions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_strategies import print_table  # noqa: E402

BASELINES = ("resnet18", "mobilenet_v3_small", "efficientnet_b0")
CLASSES = ("red_dots", "green_stripes", "blue_noise", "grey_squares", "orange_rings")


def nas(command: str, run_dir: Path, threads: int, *overrides: str) -> dict:
    """`nas <command> <overrides>` into run_dir, on `threads` torch threads; its report.json."""
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, "-m", "nascli", command, *overrides, f"hydra.run.dir={run_dir}"],
                          cwd=run_dir.parent, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"`nas {command} {' '.join(overrides)}` failed:\n{proc.stderr[-3000:]}")
    return json.loads((run_dir / "report.json").read_text())


def image_folder(root: Path, per_class: int, seed: int) -> Path:
    """root/<class>/<i>.png: each class a mean colour plus its own texture, sizes 20-48 px, seeded."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    colours = [(200, 60, 60), (60, 180, 80), (70, 90, 210), (128, 128, 128), (230, 140, 40)]
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            h, w = (int(v) for v in rng.integers(20, 49, 2))
            yy, xx = np.mgrid[0:h, 0:w]
            texture = [np.sin(xx * 0.9) * np.sin(yy * 0.9), np.sin(xx * 0.7), rng.normal(0, 1, (h, w)),
                       ((xx // 6 + yy // 6) % 2) * 2.0 - 1, np.sin(np.hypot(xx - w / 2, yy - h / 2) * 0.8)][label]
            base = np.array(colours[label]) + rng.integers(-50, 51, 3)
            pixels = base + 45 * texture[..., None] + rng.normal(0, 25, (h, w, 3))
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="digits,folder", help="comma-separated: digits, folder")
    parser.add_argument("--trials", type=int, default=8, help="candidates of the search (budget.trials)")
    parser.add_argument("--epochs", type=int, default=10, help="retraining epochs, the same for every network")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-class", type=int, default=60, help="images per class of the generated folder")
    parser.add_argument("--image-size", type=int, default=16, help="dataset.image_size of the generated folder")
    parser.add_argument("--baselines", default=",".join(BASELINES), help="comma-separated baseline names")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run (OMP_NUM_THREADS)")
    parser.add_argument("--smoke", action="store_true", help="debug=smoke sizes everywhere (a test of the script)")
    args = parser.parse_args()

    baselines = [b for b in args.baselines.split(",") if b]
    smoke = ["debug=smoke"] if args.smoke else []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for dataset in [d for d in args.datasets.split(",") if d]:
            if dataset == "folder":
                root = image_folder(work / "images", args.per_class, args.seed)
                data = ["dataset=folder", f"dataset.root={root}", f"dataset.image_size={args.image_size}",
                        f"dataset.cache_dir={work / 'cache'}", "dataset.test_fraction=0.2"]
                described = (f"generated folder: {len(CLASSES)} classes x {args.per_class} PNGs of 20-48 px, "
                             f"{args.image_size} px crop")
            elif dataset == "digits":
                data, described = ["dataset=digits"], "digits (sklearn, 8x8 grey)"
            else:
                raise SystemExit(f"--datasets: unknown {dataset!r} (digits, folder)")
            common = [*data, f"seed={args.seed}", *smoke]
            search = nas("search", work / f"{dataset}-search", args.threads, *common, f"budget.trials={args.trials}",
                         "plots=false")
            recipe = [*common, "plots=false", *([] if args.smoke else [f"trainer.epochs={args.epochs}"])]
            runs = {"searched": ["genotype=" + str(work / f"{dataset}-search")]}
            runs.update({name: [f"baseline={name}"] for name in baselines})
            rows = []
            for name, which in runs.items():
                retrain = nas("retrain", work / f"{dataset}-{name}", args.threads, *which, *recipe)
                evaluated = nas("evaluate", work / f"{dataset}-{name}-evaluate", args.threads,
                                f"checkpoint={work / f'{dataset}-{name}'}", *smoke, "plots=false")
                label = f"searched ({search['search_space']})" if name == "searched" else name
                rows.append([label, f"{evaluated['test_accuracy']:.1f}",
                             f"{evaluated['test_accuracy_ci_low']:.1f}-{evaluated['test_accuracy_ci_high']:.1f}",
                             f"{evaluated['params_m']:.3f}", f"{evaluated['flops_m']:.2f}",
                             f"{evaluated['latency_ms']:.2f}", f"{retrain['train_s']:.0f}"])
            top = max(float(r[1]) for r in rows)
            winners = [r[0] for r in rows if float(r[1]) == top]
            epochs = "smoke" if args.smoke else args.epochs
            print_table(f"{described}: {args.trials}-trial search vs baselines, {epochs} epochs each, seed {args.seed}",
                        rows, ["network", "test acc %", "95% interval", "params M", "FLOPs M", "latency ms",
                               "train s"])
            if len(winners) > 1:
                verdict = f"{' and '.join(winners)} tie for the highest test accuracy"
            elif winners[0] == rows[0][0]:
                verdict = "the searched network has the highest test accuracy"
            else:
                verdict = f"the searched network did not win: {winners[0]} has the highest test accuracy"
            print(f"{dataset}: {verdict}.\n")


if __name__ == "__main__":
    main()
