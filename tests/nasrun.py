"""Run `nas` in a subprocess as a user would, and read what it wrote (helpers shared by tests)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO.parent / "shared" / "benchmarks"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def nas(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> Result:
    """Run `nas <args>` (through the installed entry point's module) and capture its output."""
    full_env = {**os.environ, "COLUMNS": "200", "NASCLI_DATA_DIR": str(cwd / "data"), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "nascli", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def read_trials(run_dir: Path) -> list[dict[str, str]]:
    """A run's trials.csv rows without the timing columns, which differ between identical runs."""
    with open(Path(run_dir) / "trials.csv") as handle:
        return [{k: v for k, v in row.items() if k not in ("cost_s", "elapsed_s")} for row in csv.DictReader(handle)]
