"""nas meta-train: learn a prior across tasks that `nas search meta=<run dir>` starts from.

The method (conf/method/) and the source of tasks (conf/tasks/) are built from their `_target_`s;
the method learns, this command shows its progress and writes the prior, report and plot. A
resumable method's state is kept after every step in meta_state.pt, so `resume=true` continues a
killed run to the prior an uninterrupted one learns.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from nascli.meta.base import MetaContext, MetaMethod
from nascli.runtime import run_state
from nascli.runtime.common import resolve_device, seed_everything
from nascli.runtime.config import build, check_app, plain
from nascli.runtime.console import progress, table
from nascli.runtime.files import write_csv
from nascli.runtime.run_report import markdown_table
from nascli.runtime.run_state import fingerprint
from nascli.runtime.context import RunContext

PLOT = "meta_training.png"
METRICS = "meta_metrics.csv"
STATE = "meta_state.pt"
STATE_FORMAT = "nascli.meta-train-state/1"


@dataclass
class MetaTrainOptions:
    """The top-level options of conf/meta-train.yaml."""

    seed: int
    device: str
    resume: bool  # continue the run in hydra.run.dir from its last meta-iteration (meta_state.pt)


def run(ctx: RunContext) -> float:
    """Learn and save the prior; returns the method's objective (held-out rank correlation for
    transfer, accuracy after adaptation for reptile)."""
    cfg = ctx.cfg
    options = check_app(cfg, MetaTrainOptions, "meta-train", ("dataset", "search_space", "method", "tasks"))
    seed_everything(options.seed)
    space = build(cfg.search_space, "search_space")
    method: MetaMethod = build(cfg.method, "method")
    tasks = build(cfg.tasks, "tasks")
    context = MetaContext(options.seed, resolve_device(options.device),
                          functools.cache(lambda: build(cfg.dataset, "dataset")), plain(cfg.dataset))
    rows: list[dict[str, Any]] = []  # meta_metrics.csv: one row per meta-iteration, where the method reports numbers
    done = _resume(ctx, method, context, rows) if options.resume else 0
    if method.resumable:
        settings = fingerprint(plain(cfg))
        context.checkpoint = lambda state: run_state.save(
            ctx.run_dir / STATE, {"format": STATE_FORMAT, "fingerprint": settings, "rows": rows, "method": state})
    with progress(ctx.console) as bar:
        task = bar.add_task("meta-train", total=method.steps(), completed=done, info="",
                            visible=method.steps() is not None)

        def on_step(info: str, metrics: dict[str, Any] | None = None) -> None:
            bar.update(task, advance=1, **({"info": info} if info else {}))
            if metrics:
                rows.append(metrics)
                write_csv(ctx.run_dir / METRICS, rows, list(dict.fromkeys(k for row in rows for k in row)))
                ctx.loggers.log_metrics(metrics, step=len(rows))

        result = method.fit(space, tasks, context, on_step)
    result.prior.save(ctx.run_dir)
    result.draw(ctx.run_dir / PLOT)
    ctx.report.results.update({**result.results, "files": ["prior.pt", "prior.json", PLOT, *([METRICS] if rows else [])]})
    ctx.report.sections.append((result.title, markdown_table(result.rows, list(result.rows[0])) if result.rows else "-"))
    ctx.report.sections.append(("Training", f"![meta-training]({PLOT})"))
    ctx.console.print(table(result.title, result.rows, result.columns))
    for note in result.notes:
        ctx.console.print(note, soft_wrap=True)
    ctx.console.print(f"prior: {ctx.run_dir / 'prior.pt'}  (use it: {result.usage} meta={ctx.run_dir})", soft_wrap=True)
    return result.objective


def _resume(ctx: RunContext, method: MetaMethod, context: MetaContext, rows: list[dict[str, Any]]) -> int:
    """Load meta_state.pt into `context.resume` and `rows`; returns the steps already done (0: none kept)."""
    path = ctx.run_dir / STATE
    if not method.resumable:
        ctx.console.print(f"resume=true: method={ctx.cfg.method._target_.rsplit('.', 1)[-1]} keeps no state between "
                          "steps; it learns again from the start (same seed, same prior).", soft_wrap=True)
        return 0
    if not path.exists():
        ctx.console.print(f"resume=true: {ctx.run_dir} holds no meta-train state yet; starting from the first "
                          "meta-iteration.", highlight=False, soft_wrap=True)
        return 0
    saved = run_state.load(path, "nascli meta-train state", STATE_FORMAT)
    run_state.check_same(saved.get("fingerprint") or {}, plain(ctx.cfg), path, "meta-train")
    rows.extend(dict(row) for row in saved["rows"])
    context.resume = saved["method"]
    done = int(context.resume.get("iteration", 0))
    ctx.console.print(f"Resuming {ctx.run_dir} after meta-iteration {done} of {method.steps()}.",
                      highlight=False, soft_wrap=True)
    return done
