"""How well a per-op latency table predicts whole networks on this machine, printed as a table.

For each space: build its table on the device (every piece at every shape it occurs in, the overhead
from calibration networks), then measure `--archs` other random whole networks and compare: mean
absolute percentage error and Spearman rank correlation of the table's estimates.

    python scripts/bench_latency.py                      # nb201, darts (and mobilenet), CPU, 30 networks each
    python scripts/bench_latency.py --device cuda --archs 30
    python scripts/bench_latency.py --spaces nb201 --archs 10 --repeats 10   # quick
"""

from __future__ import annotations

import argparse
import time

import torch
from rich.console import Console

from nascli.hardware.latency_table import build_table, check_table
from nascli.hardware.target import target_option
from nascli.registry import SPACES
from nascli.runtime.config import build_option
from nascli.runtime.console import table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", nargs="+", default=[n for n in ("nb201", "darts", "mobilenet") if n in SPACES.names()])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--archs", type=int, default=30, help="random whole networks checked per space")
    parser.add_argument("--calibration", type=int, default=5, help="random networks that measure the overhead")
    parser.add_argument("--repeats", type=int, default=60, help="timed runs per piece and per network (fewer: noisier ranks)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--shape", nargs=3, type=int, default=[10, 3, 32], metavar=("CLASSES", "CHANNELS", "SIZE"))
    args = parser.parse_args()

    target = target_option(args.device, {"repeats": args.repeats, "warmup": 5, "threads": args.threads}).profiler
    meta = {"device": target.device_name(), "torch": torch.__version__,
            "threads": target.threads or torch.get_num_threads(), "batch_size": target.batch_size}
    rows = []
    for name in args.spaces:
        space = build_option("search_space", name)
        start = time.perf_counter()
        latency = build_table(space, tuple(args.shape), target.time, meta, args.calibration, seed=0)
        built = time.perf_counter() - start
        checked, error = check_table(latency, space, tuple(args.shape), target.time, args.archs, seed=1)
        measured = [r["measured_ms"] for r in checked]
        rows.append({"space": name, "pieces": len(latency.rows) - 1, "table_s": built, "networks": error["networks"],
                     "median_ms": sorted(measured)[len(measured) // 2], "MAPE %": error["mape_pct"],
                     "Spearman": error["spearman"]})
    title = (f"latency table against {args.archs} whole networks per space, {meta['device']}, "
             f"{meta['threads']} threads, batch 1, {args.shape[1]}x{args.shape[2]}x{args.shape[2]}")
    Console(width=150).print(table(title, rows, list(rows[0])))


if __name__ == "__main__":
    main()
