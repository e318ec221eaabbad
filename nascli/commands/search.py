"""nas search: find an architecture for a dataset (and a hardware target).

Assemble the search from its config groups (nascli.search.assembly), start its strategy from a meta
prior if one is given, let the engine run it to the end of its budget, and report the result.

Under torchrun a gradient-based search (DARTS, PC-DARTS, GDAS, FairDARTS) is data-parallel: every
process runs the same search on its slice of each global batch (nascli.strategies.darts), the
processes agree on when the budget is spent, and rank 0 alone writes the run directory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nascli.errors import ConfigError
from nascli.meta.prior import ArchPrior
from nascli.meta.tasks import Task, describe, describe_data
from nascli.runtime import torchrun
from nascli.runtime.common import resolve_device, seed_everything
from nascli.runtime.config import build, check_app, plain
from nascli.runtime.console import table
from nascli.runtime.run_report import markdown_table
from nascli.runtime.run_state import fingerprint
from nascli.runtime.context import RunContext
from nascli.runtime.devices import check_jobs_per_gpu
from nascli.search.assembly import Search, assemble
from nascli.search.budget import Budget
from nascli.search.engine import SearchEngine, SearchRun
from nascli.search.executors.worker import Recipe
from nascli.search import workers as parallel

GROUPS = ("dataset", "search_space", "strategy", "evaluator", "hardware", "trainer")
DATA_PARALLEL = True  # runs under torchrun: a gradient-based strategy trains data-parallel (the runner refuses commands without this)


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
    """Search; returns the result's objective (what a Hydra sweeper optimises: maximises, or minimises
    when report.json's objective_metric is lower-is-better, a perplexity)."""
    cfg = ctx.cfg
    options = check_app(cfg, SearchOptions, "search", GROUPS)
    seed_everything(options.seed)
    device = resolve_device(options.device)
    budget = options.budget
    if ctx.process is not None:
        device = torchrun.device_for(ctx.process, device)
        budget = _shared(budget)
    search = assemble(cfg, options.seed, device)
    if ctx.process is not None and not search.strategy.data_parallel:
        raise ConfigError(f"strategy={search.strategy.name or type(search.strategy).__name__} cannot train "
                          f"data-parallel: under torchrun (WORLD_SIZE={ctx.process.size}) nas search runs a "
                          "gradient-based strategy (darts, pcdarts, gdas, fairdarts). Search candidates in parallel "
                          "with search.workers=N instead, in one process.")
    if options.meta:
        _warm_start(ctx, options.meta, search, cfg)
    ctx.report.results.update({
        "search_space": search.space.name, "strategy": type(search.strategy).__name__, "dataset": cfg.dataset.name,
        "seed": options.seed, "device": str(device), "hardware": search.hardware.describe(),
        "budget": {"trials": options.budget.trials, "seconds": options.budget.seconds},
        **({"processes": ctx.process.size} if ctx.process else {}),
        "workers": {"workers": options.search.workers, "executor": options.search.executor},
    })
    workers = options.search
    recipe = Recipe(search.space, options.seed, options.device, check_jobs_per_gpu(cfg.get("jobs_per_gpu", 1)),
                    *(plain(cfg[group]) for group in ("evaluator", "trainer", "dataset")))
    executor = parallel.executor_for(workers, search.evaluator, recipe, ctx.run_dir)
    main = ctx.process is None or ctx.process.main  # the one process that writes files
    engine = SearchEngine(search.space, search.strategy, search.evaluator, search.hardware, budget,
                          search.context, SearchRun(ctx.run_dir, fingerprint(plain(cfg)), ctx.console, options.plots,
                                                    on_trial=lambda row: ctx.loggers.log_metrics(row, step=row["trial"]),
                                                    executor=executor, retries=workers.retries,
                                                    cancel_on_stop=workers.cancel_on_stop, writes=main))
    stopped_by = engine.run(resume=options.resume)
    if not main:  # rank 0 writes the result and the report
        return float("nan")
    best = engine.finish(stopped_by, ctx.report)
    data = search.loaded_data()
    if data is not None and data.table is not None:  # a table: the found network beside gradient boosting and a linear model
        _baselines(ctx, search, best, data, build(cfg.trainer, "trainer"), device, options.seed)
    if data is not None and data.source is not None:  # what reading the user's files found: bad files skipped, counted
        ctx.report.results["data_source"] = data.source
    return best["objective"]


def _baselines(ctx: RunContext, search: Search, best: dict[str, Any], data: Any, trainer: Any, device: Any,
               seed: int) -> None:
    """The found network trained once from scratch, gradient boosting and logistic regression on
    the same splits: report.json's `baselines`, a section of report.md, a table, and a plain verdict."""
    from nascli.training import table_baselines

    rows = table_baselines.compare(search.space, search.space.from_str(best["arch_str"]), data, trainer, device, seed)
    verdict = table_baselines.verdict(rows)
    ctx.report.results["baselines"] = {"models": rows, "verdict": verdict}
    columns = ["model", "val_accuracy", "test_accuracy", "fit_s"]
    ctx.report.sections.append(("Baselines", markdown_table(rows, columns) + "\n\n" + verdict))
    ctx.console.print(table(f"searched network vs baselines on {data.name} (same splits)", rows, columns, digits=2))
    ctx.console.print(verdict, highlight=False, soft_wrap=True)


@dataclass
class _RankZeroBudget(Budget):
    """A budget every process of a data-parallel search spends at once: rank 0's clock decides
    (budget.seconds), so that no process trains an epoch the others do not."""

    def exhausted(self, trials_done: int, elapsed_s: float) -> str | None:
        return torchrun.share(super().exhausted(trials_done, elapsed_s))


def _shared(budget: Budget) -> Budget:
    """`budget` as every process of a torchrun spends it (only seconds can differ between them)."""
    return budget if budget.seconds is None else _RankZeroBudget(budget.trials, budget.seconds)


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
