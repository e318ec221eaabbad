"""Wall time of a sweep's jobs run side by side on the GPUs (joblib, device=auto, jobs_per_gpu) against
the same jobs run one after the other (Hydra's basic launcher), with where each job ran.

    python scripts/bench_sweep_gpus.py --jobs 2 --jobs-per-gpu 2 -- strategy=darts debug=smoke

On a machine without a GPU both runs use the CPU (a smoke test of the script, not a measurement).
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


def sweep(workdir: Path, name: str, launcher: list[str], jobs: int, overrides: list[str]) -> tuple[float, list[dict]]:
    """Run `nas search -m` with seeds 0..jobs-1; its wall seconds and each job's report."""
    out = workdir / name
    seeds = ",".join(str(s) for s in range(jobs))
    cmd = [sys.executable, "-m", "nascli", "search", "-m", *overrides, f"seed={seeds}", *launcher,
           f"hydra.sweep.dir={out}"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{name} sweep failed ({' '.join(cmd)}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, [json.loads((out / str(j) / "report.json").read_text()) for j in range(jobs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="jobs in the sweep (seeds 0..jobs-1)")
    parser.add_argument("--jobs-per-gpu", type=int, default=2, help="jobs_per_gpu of the parallel sweep")
    parser.add_argument("--workdir", type=Path, default=None, help="where the sweeps write (default: a temp dir)")
    parser.add_argument("overrides", nargs="*", default=["debug=smoke"], help="overrides of every job (after --)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_sweep_gpus_"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NASCLI_DATA_DIR", str(workdir / "data"))
    rows = []
    for name, launcher in [
        ("one after the other", ["hydra/launcher=basic"]),
        (f"side by side, jobs_per_gpu={args.jobs_per_gpu}",
         ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.jobs}", f"jobs_per_gpu={args.jobs_per_gpu}"]),
    ]:
        wall, reports = sweep(workdir, name.split(",")[0].replace(" ", "_"), launcher, args.jobs, args.overrides)
        where = ", ".join(f"{r['placement']['device']}" + (f"/slot {r['placement']['gpu_slot']}"
                                                           if r["placement"]["gpu_slot"] is not None else "")
                          for r in reports)
        rows.append((name, wall, where, [r["status"] for r in reports]))
    base = rows[0][1]
    print(f"{args.jobs} jobs of `nas search {' '.join(args.overrides)}` (wall seconds, from `nas` start to exit)")
    print(f"{'launch':<30}  {'wall_s':>8}  {'speed-up':>8}  {'devices':<40}  status")
    for name, wall, where, status in rows:
        print(f"{name:<30}  {wall:>8.1f}  {base / wall:>7.2f}x  {where:<40}  {','.join(status)}")


if __name__ == "__main__":
    main()
