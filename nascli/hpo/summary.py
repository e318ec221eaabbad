"""What a sweep leaves in its directory: optimization_results.yaml (the best parameters),
hpo_trials.csv (every trial), hpo_history.png (objective per trial and the best so far), and the
table printed at the end."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.table import Table

from nascli.hpo.sweep_space import SweepSpace
from nascli.hpo.study import ERROR, JOB_DIR, OUTCOME
from nascli.runtime.console import table
from nascli.runtime.files import save_figure, write_csv, write_text

RESULTS, TRIALS, HISTORY = "optimization_results.yaml", "hpo_trials.csv", "hpo_history.png"


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One row per trial, in order: number, state, value, each parameter, duration and job directory."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        cut_off = trial.state.name == "FAIL" and not trial.user_attrs.get(OUTCOME)  # its job never ended
        rows.append({"trial": trial.number, "state": trial.state.name.lower(), "value": trial.value, **trial.params,
                     "duration_s": None if duration is None else round(duration, 3),
                     "job_dir": trial.user_attrs.get(JOB_DIR),
                     "error": "interrupted" if cut_off else trial.user_attrs.get(ERROR)})
    return rows


def param_keys(rows: list[dict[str, Any]], space: SweepSpace) -> list[str]:
    """The parameter columns: the space's keys, then any an earlier run of the study searched."""
    keys = [p.key for p in space.params]
    fixed = {"trial", "state", "value", "duration_s", "job_dir", "error"}
    return keys + sorted({k for row in rows for k in row if k not in fixed and k not in keys})


def _best(study: Any) -> Any:
    try:
        return study.best_trial
    except ValueError:  # no completed trial
        return None


def results(study: Any, space: SweepSpace, storage: str, n_trials: int) -> dict[str, Any]:
    """The content of optimization_results.yaml."""
    rows = trial_rows(study)
    best = _best(study)
    spelt = {p.key: p for p in space.params}
    overrides = [spelt[k].override(v) if k in spelt else f"{k}={v!r}" for k, v in (best.params if best else {}).items()]
    return {
        "study_name": study.study_name,
        "storage": storage,
        "direction": study.direction.name.lower(),
        "best_value": best.value if best else None,
        "best_trial": best.number if best else None,
        "best_params": dict(best.params) if best else {},
        "best_overrides": overrides,  # the best parameters as a command line's overrides
        "best_job_dir": best.user_attrs.get(JOB_DIR) if best else None,
        "n_trials": n_trials,
        **counts(rows),
    }


def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Trials completed, failed (their job failed) and interrupted (run again in a continued sweep)."""
    failed = [r for r in rows if r["state"] == "fail"]
    interrupted = sum(1 for r in failed if r["error"] == "interrupted")
    return {"completed": sum(1 for r in rows if r["state"] == "complete"), "failed": len(failed) - interrupted,
            "interrupted": interrupted}


def history_plot(rows: list[dict[str, Any]], path: Path, title: str, maximize: bool) -> Path:
    """Objective of every trial (failed ones left out) and the best so far, against trials."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [r["trial"] for r in rows]
    ys = [r["value"] if r["state"] == "complete" and r["value"] is not None else math.nan for r in rows]
    best, curve = (-math.inf if maximize else math.inf), []
    for y in ys:
        best = best if math.isnan(y) else (max if maximize else min)(best, y)
        curve.append(best if math.isfinite(best) else math.nan)
    ax.scatter(xs, ys, s=14, alpha=0.6, label="trial")
    ax.step(xs, curve, where="post", color="C3", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("objective")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.legend(loc="best")
    path = save_figure(path, fig)
    plt.close(fig)
    return path


def write_summary(study: Any, space: SweepSpace, sweep_dir: Path, storage: str, n_trials: int,
                  plot: bool = True) -> dict[str, Any]:
    """Write the three files into `sweep_dir` (atomically); returns the results."""
    import yaml

    rows = trial_rows(study)
    summary = results(study, space, storage, n_trials)
    write_text(sweep_dir / RESULTS, yaml.safe_dump(summary, sort_keys=False))
    write_csv(sweep_dir / TRIALS, rows, ["trial", "state", "value", *param_keys(rows, space), "duration_s", "job_dir",
                                         "error"])
    if plot and rows:
        history_plot(rows, sweep_dir / HISTORY, f"Optuna study {study.study_name}", summary["direction"] == "maximize")
    return summary


def summary_table(study: Any, space: SweepSpace, top: int = 10) -> Table:
    """The best `top` completed trials, best first, with their parameters."""
    every = trial_rows(study)
    rows = sorted((r for r in every if r["state"] == "complete"), key=lambda r: r["value"],
                  reverse=study.direction.name == "MAXIMIZE")
    n = counts(every)
    title = (f"Top {min(top, len(rows))} of {len(every)} trials ({study.direction.name.lower()}, {n['failed']} failed"
             + (f", {n['interrupted']} interrupted)" if n["interrupted"] else ")"))
    keys = param_keys(rows, space)
    shown = [{**row, **{k: f"{row[k]:.4g}" for k in keys if isinstance(row.get(k), float)}} for row in rows[:top]]
    return table(title, shown, ["trial", "value", *keys, "duration_s"], digits=2)
