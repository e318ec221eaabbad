"""Run `nas` as a user would: in process (compose the app's config with Hydra's compose API, run the
command), or in a subprocess where the process boundary is the point; and read what it wrote."""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from rich.console import Console

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    code: int
    out: str
    err: str
    objective: float | None = None

    @property
    def text(self) -> str:
        return self.out + self.err


def compose(command: str, *overrides: str) -> DictConfig:
    """The composed config of `nas <command> <overrides>`, as the app would see it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir, initialize_config_module

    importlib.import_module("nascli.apps")  # registers the nas.cache_dir resolver
    from nascli.runtime.config import config_path

    path = config_path()
    init = (initialize_config_module(config_module="nascli.conf", version_base="1.3") if path.startswith("pkg://")
            else initialize_config_dir(config_dir=path, version_base="1.3"))
    with init:
        return hydra_compose(config_name=command, overrides=list(overrides))


def run(command: str, *overrides: str, run_dir: Path) -> Result:
    """`nas <command> <overrides> hydra.run.dir=<run_dir>` in this process (datasets under run_dir's parent)."""
    from nascli.runner import run_command

    run_dir = Path(run_dir)
    cfg = compose(command, f"paths.data_dir={run_dir.parent / 'data'}", *overrides)
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)  # what Hydra writes before the command runs
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create(list(overrides)), run_dir / ".hydra" / "overrides.yaml")
    out, err = io.StringIO(), io.StringIO()
    outcome = run_command(command, cfg, run_dir, list(overrides), console=Console(file=out, width=200),
                          errors=Console(file=err, width=200))
    return Result(outcome.code, out.getvalue(), err.getvalue(), outcome.objective)


def nas(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> Result:
    """Run `nas <args>` in a subprocess (through the installed entry point's module), with one torch
    thread like the in-process runs (conftest.py), so that the two give the same numbers."""
    full_env = {**os.environ, "COLUMNS": "200", "NASCLI_DATA_DIR": str(cwd / "data"), "OMP_NUM_THREADS": "1",
                **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "nascli", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def read_trials(run_dir: Path) -> list[dict[str, str]]:
    """A run's trials.csv rows without the timing columns, which differ between identical runs."""
    with open(Path(run_dir) / "trials.csv") as handle:
        return [{k: v for k, v in row.items() if k not in ("cost_s", "elapsed_s")} for row in csv.DictReader(handle)]


def stopped(args: list[str], stops: dict[Path, int], cwd: Path, marker: str = "trials.csv") -> None:
    """`nas <args>` into each run directory of `stops`, side by side, each sent its signal once it has
    written `marker`: SIGINT is the user's Ctrl-C; SIGKILL leaves the run as a crash or the OOM killer does.
    Each starts with SIGINT's default action, as a command typed in a terminal does: a test run started
    in the background by a shell inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    env = {**os.environ, "COLUMNS": "200", "NASCLI_DATA_DIR": str(cwd / "data"), "OMP_NUM_THREADS": "1"}
    procs = {run_dir: subprocess.Popen([sys.executable, "-m", "nascli", *args, f"hydra.run.dir={run_dir}"], cwd=cwd,
                                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
             for run_dir in stops}
    deadline = time.monotonic() + 120
    try:
        for run_dir, proc in procs.items():
            while not (run_dir / marker).exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            proc.send_signal(stops[run_dir])
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{run_dir}: still running 60 s after signal {stops[run_dir]}") from None
            assert (run_dir / marker).exists(), f"{run_dir}: stopped before it wrote {marker}"
    finally:  # whatever went wrong, no process is left behind
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
