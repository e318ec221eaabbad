"""Time what users wait for at the command line and print a table.

    python scripts/bench_cli.py                 # --help, --cfg job, the smoke chain, the default search
    python scripts/bench_cli.py --skip-default  # everything but the ~2 minute default search

Each command runs as a user runs it (`python -m nascli ...` in a fresh process, in a temporary
directory); times are wall-clock seconds on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def timed(args: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nascli", *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"`nas {' '.join(args)}` failed:\n{proc.stderr[-2000:]}")
    return elapsed, proc


def median_of(args: list[str], cwd: Path, repeats: int) -> float:
    return statistics.median(timed(args, cwd)[0] for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-default", action="store_true", help="skip the default `nas search` (about 2 minutes)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of the fast commands (median reported)")
    args = parser.parse_args()

    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        rows.append(("nas --help", median_of(["--help"], cwd, args.repeats), f"median of {args.repeats}"))
        rows.append(("nas search --cfg job", median_of(["search", "--cfg", "job"], cwd, args.repeats), f"median of {args.repeats}"))
        chain = 0.0
        steps = [
            ("search", ["search", "debug=smoke", f"hydra.run.dir={cwd / 's'}"]),
            ("retrain", ["retrain", "debug=smoke", f"genotype={cwd / 's'}", f"hydra.run.dir={cwd / 'r'}"]),
            ("evaluate", ["evaluate", "debug=smoke", f"checkpoint={cwd / 'r'}", f"hydra.run.dir={cwd / 'e'}"]),
            ("export", ["export", "format=torchscript", f"checkpoint={cwd / 'r'}", f"hydra.run.dir={cwd / 'x'}"]),
        ]
        for name, step in steps:
            seconds, _ = timed(step, cwd)
            chain += seconds
            rows.append((f"nas {name} debug=smoke", seconds, "one run"))
        rows.append(("smoke chain, total", chain, "search -> retrain -> evaluate -> export"))
        if not args.skip_default:
            seconds, _ = timed(["search", f"hydra.run.dir={cwd / 'd'}"], cwd)
            report = json.loads((cwd / "d" / "report.json").read_text())
            best = report["best"]
            rows.append(("nas search (defaults)", seconds,
                         f"{report['trials']} trials; best val_accuracy {best['val_accuracy']:.2f}% on digits"))

    table = Table(title="nascli command-line timings (wall-clock seconds)")
    table.add_column("command")
    table.add_column("seconds", justify="right")
    table.add_column("note")
    for name, seconds, note in rows:
        table.add_row(name, f"{seconds:.2f}", note)
    Console().print(table)


if __name__ == "__main__":
    main()
