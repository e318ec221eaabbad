"""nas search: find an architecture for a dataset (and a hardware target).

Build the space, hardware target, evaluator and strategy from their config groups, start from a
meta prior if one is given, and let the engine run the search to the end of its budget.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from nascli.errors import ConfigError
from nascli.evaluators.base import EvalContext
from nascli.meta.prior import ArchPrior
from nascli.meta.tasks import Task, describe, describe_data
from nascli.runtime.common import resolve_device, seed_everything
from nascli.runtime.config import build, check_app, plain, target_of
from nascli.runtime.runner import RunContext
from nascli.search.budget import Budget
from nascli.search.engine import SearchEngine, SearchRun
from nascli.spaces.joint import build_space
from nascli.strategies.base import SearchContext

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


def run(ctx: RunContext) -> float:
    """Search; returns the result's objective (what a Hydra sweeper maximises)."""
    cfg = ctx.cfg
    options = check_app(cfg, SearchOptions, "search", GROUPS)
    seed_everything(options.seed)
    device = resolve_device(options.device)
    load_data = functools.cache(lambda: build(cfg.dataset, "dataset"))  # loaded once, and only if needed
    space = build_space(cfg.search_space)  # with training hyper-parameters as genes when search_space.hparams says
    hardware = build(cfg.hardware, "hardware")
    trainer = build(cfg.trainer, "trainer")
    _check_joint(space, cfg)
    evaluator = build(cfg.evaluator, "evaluator", context=EvalContext(space, options.seed, device, trainer, load_data))
    if space.needs_input:  # e.g. chain: which strides fit depends on the input size (tables never load data)
        space = evaluator.context.space = space.for_input(*evaluator.network_shape())
    space = evaluator.space_for_search(space)  # e.g. only a benchmark table's architectures
    weights = {"trainer": trainer} if target_of(cfg.strategy, "strategy").trains_weights else {}  # its recipe
    strategy = build(cfg.strategy, "strategy", space=space, seed=options.seed, **weights)
    if options.meta:
        _warm_start(ctx, options.meta, space, strategy, cfg, load_data)
    ctx.report.results.update({
        "search_space": space.name, "strategy": type(strategy).__name__, "dataset": cfg.dataset.name,
        "seed": options.seed, "device": str(device), "hardware": hardware.describe(),
        "budget": {"trials": options.budget.trials, "seconds": options.budget.seconds}, "resumed": options.resume,
    })
    engine = SearchEngine(space, strategy, evaluator, hardware, options.budget, SearchContext(device, load_data),
                          SearchRun(ctx.run_dir, fingerprint(cfg), ctx.console, options.plots,
                                    on_trial=lambda row: ctx.loggers.log_metrics(row, step=row["trial"])))
    best = engine.finish(engine.run(resume=options.resume), ctx.report)
    return best["objective"]


def _check_joint(space: Any, cfg: Any) -> None:
    """Training hyper-parameters searched with the architecture need an evaluator that trains."""
    evaluator = target_of(cfg.evaluator, "evaluator")
    if space.hparam_choices() and not evaluator.trains:
        raise ConfigError(f"search_space.hparams ({', '.join(space.hparam_choices())}) are searched by training each "
                          f"candidate with them; evaluator={evaluator.name} does not train. Use evaluator=train.")


def fingerprint(cfg: Any) -> dict[str, Any]:
    """The settings a resumed search must share with the original (everything but the budget)."""
    dataset = {k: v for k, v in plain(cfg.dataset).items() if k != "root"}
    return {"seed": cfg.seed, "meta": cfg.get("meta"), "dataset": dataset,
            **{group: plain(cfg[group]) for group in ("search_space", "strategy", "evaluator", "hardware", "trainer")}}


def _target_task(cfg: Any, load_data: Any) -> Task:
    """The task being searched: a benchmark table's task by name (its data is never loaded), any
    other described from the data itself (class subsets included)."""
    name = cfg.evaluator.get("task")
    return describe(str(name)) if name is not None else describe_data(load_data())


def _warm_start(ctx: RunContext, ref: str, space: Any, strategy: Any, cfg: Any, load_data: Any) -> None:
    """Load the meta prior (meta=<dir>), check it fits this space, and start the strategy from it."""
    prior = ArchPrior.load(ref)
    prior.check_space(space)
    task = _target_task(cfg, load_data)
    strategy.warm_start(prior, task)
    learned_from = [t["name"] for t in prior.meta["tasks"]]
    ctx.report.results["meta"] = {"dir": ref, "method": prior.meta["method"], "target_task": task.name,
                                  "learned_from": learned_from}
    ctx.console.print(f"Starting from the {prior.meta['method']} prior of {ref} (learned on {', '.join(learned_from)}).",
                      soft_wrap=True)
