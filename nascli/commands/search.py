"""nas search: find an architecture for a dataset (and a hardware target).

Assemble the search from its config groups (nascli.search.assembly), start its strategy from a meta
prior if one is given, let the engine run it to the end of its budget, and report the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nascli.meta.prior import ArchPrior
from nascli.meta.tasks import Task, describe, describe_data
from nascli.runtime.common import resolve_device, seed_everything
from nascli.runtime.config import check_app, plain
from nascli.runtime.run_state import fingerprint
from nascli.runtime.context import RunContext
from nascli.runtime.devices import check_jobs_per_gpu
from nascli.search.assembly import Search, assemble
from nascli.search.budget import Budget
from nascli.search.engine import SearchEngine, SearchRun
from nascli.search.executors.worker import Recipe
from nascli.search import workers as parallel

GROUPS = ("dataset", "search_space", "strategy", "evaluator", "hardware", "trainer")


@dataclass
class SearchOptions:
    """The top-level options of conf/search.yaml."""

    seed: int
    device: str
    budget: Budget
    resume: bool
    meta: str | None
    plots: bool
    search: parallel.WorkerOptions  # search.workers, search.executor, ...


def run(ctx: RunContext) -> float:
    """Search; returns the result's objective (what a Hydra sweeper maximises)."""
    cfg = ctx.cfg
    options = check_app(cfg, SearchOptions, "search", GROUPS)
    seed_everything(options.seed)
    device = resolve_device(options.device)
    search = assemble(cfg, options.seed, device)
    if options.meta:
        _warm_start(ctx, options.meta, search, cfg)
    ctx.report.results.update({
        "search_space": search.space.name, "strategy": type(search.strategy).__name__, "dataset": cfg.dataset.name,
        "seed": options.seed, "device": str(device), "hardware": search.hardware.describe(),
        "budget": {"trials": options.budget.trials, "seconds": options.budget.seconds},
        "workers": {"workers": options.search.workers, "executor": options.search.executor},
    })
    workers = options.search
    recipe = Recipe(search.space, options.seed, options.device, check_jobs_per_gpu(cfg.get("jobs_per_gpu", 1)),
                    *(plain(cfg[group]) for group in ("evaluator", "trainer", "dataset")))
    executor = parallel.executor_for(workers, search.evaluator, recipe, ctx.run_dir)
    engine = SearchEngine(search.space, search.strategy, search.evaluator, search.hardware, options.budget,
                          search.context, SearchRun(ctx.run_dir, fingerprint(plain(cfg)), ctx.console, options.plots,
                                                    on_trial=lambda row: ctx.loggers.log_metrics(row, step=row["trial"]),
                                                    executor=executor, retries=workers.retries,
                                                    cancel_on_stop=workers.cancel_on_stop))
    best = engine.finish(engine.run(resume=options.resume), ctx.report)
    data = search.loaded_data()
    if data is not None and data.source is not None:  # what reading the user's files found: bad files skipped, counted
        ctx.report.results["data_source"] = data.source
    return best["objective"]


def _target_task(cfg: Any, load_data: Callable[[], Any]) -> Task:
    """The task being searched: a benchmark table's task by name (its data is never loaded), any
    other described from the data itself (class subsets included)."""
    name = cfg.evaluator.get("task")
    return describe(str(name)) if name is not None else describe_data(load_data())


def _warm_start(ctx: RunContext, ref: str, search: Search, cfg: Any) -> None:
    """Load the meta prior (meta=<dir>), check it fits this space, and start the strategy from it."""
    prior = ArchPrior.load(ref)
    prior.check_space(search.space)
    task = _target_task(cfg, search.context.load_data)
    search.strategy.warm_start(prior, task)
    learned_from = [t["name"] for t in prior.meta["tasks"]]
    ctx.report.results["meta"] = {"dir": ref, "method": prior.meta["method"], "target_task": task.name,
                                  "learned_from": learned_from}
    ctx.console.print(f"Starting from the {prior.meta['method']} prior of {ref} (learned on {', '.join(learned_from)}).",
                      soft_wrap=True)
