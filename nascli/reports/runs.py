"""Find the runs under the directories given to `nas report` and read what each one recorded.

A run directory holds report.json (nascli.runtime.run_report). A multirun folder is Hydra's sweep
directory (multirun.yaml, or job subdirectories beside Optuna's hpo_trials.csv): each job
subdirectory is a run, and a job that left no readable report.json is still listed, with why.
A run that did not complete (failed, interrupted, never finished) is listed with its reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nascli.errors import NasError
from nascli.runtime import metrics as by_name
from nascli.runtime.files import storage_error

REPORT = "report.json"
RESUMABLE = {"search", "retrain", "meta-train"}  # the commands `resume=true` continues
# The metrics read from each command's report.json (flat keys, or `best.<key>` for a search's result).
METRICS: dict[str, list[str]] = {
    "search": ["objective", "val_accuracy", "val_perplexity", "params_m", "flops_m", "latency_ms"],
    "retrain": ["val_accuracy", "test_accuracy", "val_perplexity", "test_perplexity", "params_m"],
    "evaluate": ["test_accuracy", "test_accuracy_ci_low", "test_accuracy_ci_high", "macro_f1", "test_perplexity",
                 "params_m", "latency_ms"],
    "meta-train": ["adapted_accuracy"],
}


@dataclass
class Run:
    """One run as `nas report` sees it: where, what command, its overrides, outcome, metrics and cost."""

    path: Path
    name: str                      # the job's name within its sweep, or the directory as given
    sweep: Path | None             # the multirun folder it belongs to
    command: str = "?"
    status: str = "missing"
    reason: str = ""               # why it failed, was interrupted or cannot be read
    overrides: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    wall_s: float | None = None    # finished - started, from report.json (whole seconds)
    work_s: float | None = None    # the command's own timing: a search's elapsed_s, a retrain's train_s
    trials: int | None = None
    objective_metric: str = "val_accuracy"  # what a search's objective is made of (report.json's objective_metric)

    @property
    def lower_is_better(self) -> bool:
        """Whether this run's objective is better lower (a perplexity)."""
        return by_name.lower_is_better(self.objective_metric)

    @property
    def trials_csv(self) -> Path:
        return self.path / "trials.csv"

    @property
    def pareto_csv(self) -> Path:
        return self.path / "pareto.csv"


def is_multirun(path: Path) -> bool:
    """A Hydra sweep folder (ours or the Optuna sweeper's): multirun.yaml, or job subfolders."""
    return (path / "multirun.yaml").is_file() or (not (path / REPORT).exists() and bool(_jobs(path)))


def _jobs(path: Path) -> list[Path]:
    """Job subdirectories of a sweep: numbered ones (Hydra's job numbers, even if empty), and any Hydra
    wrote (.hydra/) or a command reported in; other folders (a report's, .gpu-slots) are not runs."""
    jobs = [p for p in path.iterdir()
            if p.is_dir() and (p.name.isdigit() or (p / ".hydra").is_dir() or (p / REPORT).exists())]
    return sorted(jobs, key=lambda p: (0, int(p.name), "") if p.name.isdigit() else (1, 0, p.name))


def runs_below(path: Path, depth: int = 3, look: int = 2000) -> list[Path]:
    """Run directories up to `depth` levels below `path` (outputs/<date>/<time>/ holds one at 2),
    looking into at most `look` folders; unreadable ones are passed over (this only makes a hint)."""
    found, level, seen = [], [path], 0
    for _ in range(depth):
        below = []
        for folder in level:
            try:
                below += sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
            except OSError:
                continue
        level = below[: max(look - seen, 0)]
        seen += len(level)
        found += [p for p in level if (p / REPORT).is_file()]
    return found


def find_runs(dirs: list[Path]) -> list[Run]:
    """Every run under `dirs`, in the order given (a sweep's jobs in job order). A directory that is
    neither a run nor a sweep, and a sweep without a job, are a NasError naming it."""
    runs: list[Run] = []
    for given in dirs:
        path = Path(given)
        if not path.is_dir():
            raise NasError(f"{given}: no such directory (give run directories or multirun folders).")
        try:
            runs += _runs_in(path, str(given))
        except OSError as exc:
            raise storage_error(path, exc) from None
    return runs


def _runs_in(path: Path, given: str) -> list[Run]:
    """The run `path` is, or the jobs of the sweep it is; a NasError saying what it holds otherwise."""
    if (path / REPORT).exists():
        return [read_run(path, given, None)]
    jobs = _jobs(path) if is_multirun(path) else []
    if jobs:
        return [read_run(job, f"{path.name}/{job.name}", path) for job in jobs]
    if (path / "multirun.yaml").is_file():
        raise NasError(f"{given}: a multirun folder with no job in it: the sweep was stopped before its first job "
                       "started (or is starting now); there is nothing to report.")
    below = runs_below(path)
    glob = path.joinpath(*["*"] * len(below[0].relative_to(path).parts)) if below else None
    hint = (f"; it holds {len(below)} run(s) further down, such as {below[0]}: give those, e.g. `nas report {glob}`"
            if below else "; it holds no run")
    raise NasError(f"{given}: not a run directory (no {REPORT}) nor a multirun folder (no multirun.yaml or job "
                   f"directories){hint}.")


def parse_overrides(argv: list[str]) -> dict[str, str]:
    """`key=value` overrides as a dict (`+key=v` and `key=v` alike; `~key` as key='(deleted)')."""
    out = {}
    for arg in argv:
        if arg.startswith("~"):
            out[arg[1:].split("=", 1)[0]] = "(deleted)"
        elif "=" in arg:
            key, value = arg.split("=", 1)
            out[key.lstrip("+")] = value
    return out


def _hydra_overrides(path: Path) -> list[str]:
    """The job's overrides as Hydra saved them (used when report.json is missing or unreadable)."""
    import yaml

    try:
        loaded = yaml.safe_load((path / ".hydra" / "overrides.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return []
    return [str(v) for v in loaded] if isinstance(loaded, list) else []


def _seconds(started: Any, finished: Any) -> float | None:
    try:
        return (dt.datetime.fromisoformat(finished) - dt.datetime.fromisoformat(started)).total_seconds()
    except (TypeError, ValueError):
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return value if math.isfinite(value) else None


def read_run(path: Path, name: str, sweep: Path | None) -> Run:
    """What one run directory recorded; an unreadable report leaves the run listed as `missing`."""
    run = Run(path=path, name=name, sweep=sweep, overrides=parse_overrides(_hydra_overrides(path)))
    try:
        report = json.loads((path / REPORT).read_text())
        if not isinstance(report, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        run.reason = f"no {REPORT} (the job never started its command, or was killed before)"
        return run
    except (OSError, ValueError) as exc:
        run.reason = f"unreadable {REPORT}: {exc}"
        return run
    run.command = str(report.get("command", "?"))
    run.status = str(report.get("status") or "?")
    if isinstance(report.get("argv"), list):
        run.overrides = parse_overrides([str(a) for a in report["argv"]])
    if run.status != "completed":
        run.reason = why_not_completed(run.command, run.status, report)
    run.wall_s = _seconds(report.get("started"), report.get("finished"))
    run.work_s = _number(report.get("elapsed_s", report.get("train_s")))
    trials = report.get("trials")
    counted = isinstance(trials, int) and not isinstance(trials, bool) and 0 <= trials < 2**53  # what a float holds
    run.trials = trials if counted else None
    if run.trials is None and run.command == "search":
        run.trials = _count_rows(run.trials_csv)  # a search that did not end: the trials it wrote
    source = report.get("best") if run.command == "search" and isinstance(report.get("best"), dict) else report
    recorded = report.get("objective_metric")  # absent in reports written before directions: val_accuracy's
    if isinstance(recorded, dict) and isinstance(recorded.get("metric"), str):
        run.objective_metric = recorded["metric"]
    for key in METRICS.get(run.command, []):
        value = _number(source.get(key, report.get(key)))
        if value is not None:
            run.metrics[key] = value
    return run


def why_not_completed(command: str, status: str, report: dict[str, Any]) -> str:
    """A run's reason: its error, or that it never finished (a report still `running`, or with no
    `finished` time, was left by a process still running or stopped without a word: SIGKILL, out of
    memory, a lost machine); where `resume=true` continues it, say so."""
    resume = "; resume=true continues it" if command in RESUMABLE else ""
    if status == "running" or not report.get("finished"):
        return f"never finished: still running, or stopped without a word (killed, out of memory){resume}"
    error = str(report.get("error") or f"status {status}")
    return f"{error}{resume}" if status == "interrupted" else error


def _count_rows(path: Path) -> int | None:
    """The data rows of a CSV file (None when it is missing or unreadable)."""
    try:
        with open(path, newline="") as handle:
            return max(sum(1 for _ in csv.reader(handle)) - 1, 0)
    except (OSError, csv.Error, UnicodeDecodeError):
        return None
