"""nas meta-train: learn a prior across tasks that `nas search meta=<run dir>` starts from.

The method (conf/method/) and the source of tasks (conf/tasks/) are built from their `_target_`s;
the method learns, this command shows its progress and writes the prior, report and plot.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from nascli.meta.base import MetaContext, MetaMethod
from nascli.runtime.common import resolve_device, seed_everything
from nascli.runtime.config import build, check_app, plain
from nascli.runtime.console import progress, table
from nascli.runtime.files import write_csv
from nascli.runtime.report import markdown_table
from nascli.runtime.runner import RunContext

PLOT = "meta_training.png"
METRICS = "meta_metrics.csv"


@dataclass
class MetaTrainOptions:
    """The top-level options of conf/meta-train.yaml."""

    seed: int
    device: str


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
    with progress(ctx.console) as bar:
        task = bar.add_task("meta-train", total=method.steps(), info="", visible=method.steps() is not None)

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
