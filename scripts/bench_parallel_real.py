"""Wall time of one real search with search.workers=2 (two local worker processes, one torch thread
each) against the same search with one worker (one thread), the same number of trials.

    python scripts/bench_parallel_real.py [--trials 8] [--workers 2] [-- <overrides of both searches>]

The default overrides train each candidate long enough (debug=smoke's network, 6 epochs on 1024
images: seconds of CPU) that starting the workers (a Python process each, importing torch and
opening the data once) is a small part of the search, as it is in a real one.

Each search is a `nas search` process; `search s` is the search loop (trials.csv's last
elapsed_s: worker start-up included), `wall s` the whole command, `CPU s` the CPU time of its processes (what a shared machine does not
distort: about equal when the workers add no work). Both searches score the same
candidates (random proposes them whatever order results come back in), which the script checks.
On a machine shared with other work the speed-up is lower than the cores allow: say so beside it.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def search(workdir: Path, workers: int, trials: int, overrides: list[str]) -> tuple[float, float, list[dict]]:
    """Run one search; its wall seconds, CPU seconds (its processes' and its workers') and
    trials.csv rows. Torch gets one thread per worker."""
    out = workdir / f"workers{workers}"
    cmd = [sys.executable, "-m", "nascli", "search", "strategy=random", *overrides, f"budget.trials={trials}",
           f"search.workers={workers}", "plots=false", f"hydra.run.dir={out}"]
    env = {**os.environ, "OMP_NUM_THREADS": str(workers)}  # the search's threads, shared: one per worker
    start, used = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime
    if proc.returncode != 0:
        sys.exit(f"search.workers={workers} failed ({' '.join(cmd)}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    with open(out / "trials.csv") as handle:
        return wall, cpu, list(csv.DictReader(handle))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="candidates each search evaluates")
    parser.add_argument("--workers", type=int, default=2, help="workers of the parallel search")
    parser.add_argument("--workdir", type=Path, default=None, help="where the searches write (default: a temp dir)")
    parser.add_argument("overrides", nargs="*", default=["debug=smoke", "trainer.epochs=6", "dataset.max_train_samples=1024"],
                        help="overrides of both searches (after --)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = {n: search(workdir, n, args.trials, args.overrides) for n in (1, args.workers)}
    one, many = results[1][2], results[args.workers][2]
    if {r["arch_str"]: r["val_accuracy"] for r in one} != {r["arch_str"]: r["val_accuracy"] for r in many}:
        sys.exit("the two searches scored different candidates or numbers: not a like-for-like comparison")
    base = float(one[-1]["elapsed_s"])
    print(f"digits search, {args.trials} trials, strategy=random, {' '.join(args.overrides)}; "
          f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the end")
    header = ["search.workers", "trials", "search s", "wall s", "CPU s", "speed-up (search)", "s per candidate"]
    rows = [[str(n), str(len(r)), f"{float(r[-1]['elapsed_s']):.1f}", f"{wall:.1f}", f"{cpu:.1f}",
             f"{base / float(r[-1]['elapsed_s']):.2f}x", f"{sum(float(x['cost_s']) for x in r) / len(r):.2f}"]
            for n, (wall, cpu, r) in results.items()]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))


if __name__ == "__main__":
    main()
