"""nas search: find an architecture for a dataset (and a hardware target)."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf
from rich.table import Table

from nascli import plots
from nascli.errors import ConfigError, NasError
from nascli.evaluators.base import EvalContext
from nascli.genotype import genotype_record
from nascli.runtime.common import build, check_trainer, get_float, get_int, resolve_device, seed_everything
from nascli.runtime.files import write_json
from nascli.runtime.report import markdown_table
from nascli.runtime.runner import RunContext
from nascli.search.loop import Budget, replay, run_sample_search
from nascli.search.oneshot import OneShotRun
from nascli.search.trials import TrialLog

SHOWN = ["trial", "arch_str", "objective", "val_accuracy", "params_m", "flops_m", "latency_ms", "cost_s"]


def _budget(cfg: Any) -> Budget:
    budget = Budget(get_int(cfg, "budget.trials", minimum=1, allow_none=True),
                    get_float(cfg, "budget.seconds", minimum=0.0, allow_none=True))
    if budget.trials is None and budget.seconds is None:
        raise ConfigError("The search needs a budget: set budget.trials=<n> or budget.seconds=<s> (or both).")
    return budget


def _fingerprint(cfg: Any) -> dict[str, Any]:
    """The settings a resumed search must share with the original (everything but the budget)."""
    def plain(key: str) -> Any:
        node = OmegaConf.select(cfg, key)
        return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node

    dataset = {k: v for k, v in (plain("dataset") or {}).items() if k != "root"}
    return {"seed": cfg.seed, "meta": cfg.get("meta"), "dataset": dataset, "search_space": plain("search_space"),
            "strategy": plain("strategy"), "evaluator": plain("evaluator"),
            "hardware": plain("hardware"), "trainer": plain("trainer")}


def _target_task(cfg: Any, context: EvalContext) -> Any:
    """The description of the task being searched: a benchmark table's task by name (its data is
    never loaded), any other from the data itself (class subsets included)."""
    from nascli.meta.tasks import describe, describe_data

    name = OmegaConf.select(cfg, "evaluator.task")
    return describe(str(name)) if name is not None else describe_data(context.data)


def _warm_start(ctx: RunContext, cfg: Any, space: Any, strategy: Any, context: EvalContext) -> None:
    """Load the meta prior (meta=<dir>), check it fits this space, and start the strategy from it."""
    from nascli.meta.prior import ArchPrior

    prior = ArchPrior.load(str(cfg.meta))
    prior.check_space(space)
    task = _target_task(cfg, context)
    strategy.warm_start(prior, task)
    ctx.report.results["meta"] = {"dir": str(cfg.meta), "method": prior.meta["method"], "target_task": task.name,
                                  "learned_from": [t["name"] for t in prior.meta["tasks"]]}
    ctx.console.print(f"Starting from the {prior.meta['method']} prior of {cfg.meta} "
                      f"(learned on {', '.join(t['name'] for t in prior.meta['tasks'])}).", soft_wrap=True)


def run(ctx: RunContext) -> None:
    cfg = ctx.cfg
    seed = get_int(cfg, "seed")
    budget = _budget(cfg)
    check_trainer(cfg)
    seed_everything(seed)
    device = resolve_device(cfg.device)
    space = build(cfg.search_space, "search space")
    hardware = build(cfg.hardware, "hardware target")
    context = EvalContext(space, seed, device, cfg.trainer, load_data=lambda: build(cfg.dataset, "dataset"))
    evaluator = build(cfg.evaluator, "evaluator", context=context)
    space = evaluator.space_for_search(space)  # e.g. only a benchmark table's architectures
    strategy = build(cfg.strategy, "strategy", space=space, seed=seed)

    if cfg.get("meta"):
        _warm_start(ctx, cfg, space, strategy, context)
    trials, fingerprint = TrialLog(ctx.run_dir), _fingerprint(cfg)
    ctx.report.results.update({
        "search_space": space.name, "strategy": cfg.strategy._target_.rsplit(".", 1)[-1],
        "dataset": cfg.dataset.name, "seed": seed, "device": str(device),
        "budget": {"trials": budget.trials, "seconds": budget.seconds}, "resumed": bool(cfg.resume),
    })
    if getattr(strategy, "kind", "sample") == "oneshot":
        run = OneShotRun(space, context.data, device, seed, hardware, budget, trials, fingerprint,
                         ctx.run_dir, bool(cfg.resume), ctx.console, evaluator)
        strategy.search(run)
        _finish(ctx, space, trials, run.should_stop() or "schedule", chosen=run.chosen, metric=evaluator.objective_metric)
        ctx.report.sections.extend(run.report_sections)  # e.g. architecture-weight heat maps
        ctx.report.results["files"] = ctx.report.results.get("files", []) + run.report_files
        return
    if cfg.resume:
        trials.load(fingerprint)
        replay(strategy, space, trials)
        ctx.console.print(f"Resuming from trial {len(trials)} in {ctx.run_dir}.")
    stopped_by = run_sample_search(space, strategy, evaluator, hardware, budget, trials,
                                   on_trial=lambda: trials.save(fingerprint), console=ctx.console)
    _finish(ctx, space, trials, stopped_by, metric=evaluator.objective_metric)


def _finish(ctx: RunContext, space: Any, trials: TrialLog, stopped_by: str, chosen: dict[str, Any] | None = None,
            metric: str = "val_accuracy") -> None:
    """Write genotype.json, plots and the report; print the summary table. `metric` is what the
    evaluator scored (validation accuracy, or e.g. a zero-cost proxy's zc_<name>)."""
    best = chosen or trials.best()
    if best is None:
        raise NasError("No candidate could be scored (every trial failed or was infeasible); nothing to write.")
    arch = space.from_str(best["arch_str"])
    shown = SHOWN if metric in SHOWN else [*SHOWN[:3], metric, *SHOWN[3:]]
    metrics = {k: best[k] for k in shown[2:] if best.get(k) is not None}
    write_json(ctx.run_dir / "genotype.json", genotype_record(space, arch, {**metrics, "trial": best["trial"]}))
    if ctx.cfg.plots:
        label = "objective (validation accuracy, %)" if metric == "val_accuracy" else f"objective ({metric})"
        plots.search_curve(trials.rows, ctx.run_dir / "search_curve.png", f"{space.name} search", label)
    top = sorted((r for r in trials.rows if r.get("objective") is not None), key=lambda r: -r["objective"])[:10]
    ctx.report.results.update({
        "trials": len(trials), "stopped_by": stopped_by, "elapsed_s": round(trials.elapsed_s, 2),
        "best": {"trial": best["trial"], "arch_str": best["arch_str"], **metrics},
        "files": ["genotype.json", "trials.csv", "search_curve.png"] if ctx.cfg.plots else ["genotype.json", "trials.csv"],
    })
    columns = [c for c in shown if any(r.get(c) is not None for r in top)]
    ctx.report.sections.append(("Best architecture", f"`{best['arch_str']}`\n\n" + markdown_table([best], columns[2:])))
    ctx.report.sections.append((f"Top {len(top)} of {len(trials)} trials", markdown_table(top, columns)))
    if ctx.cfg.plots:
        ctx.report.sections.append(("Search curve", "![search curve](search_curve.png)"))
    _print_table(ctx, best, top, columns, len(trials), stopped_by)


def _print_table(ctx: RunContext, best: dict[str, Any], top: list[dict[str, Any]], columns: list[str], n: int,
                 stopped_by: str) -> None:
    columns = [c for c in columns if c != "arch_str"]  # too wide for a terminal: the best one is printed below
    reason = f"budget.{stopped_by}" if stopped_by in ("trials", "seconds") else f"the strategy's {stopped_by}"
    table = Table(title=f"Top {len(top)} of {n} trials (stopped by {reason})")
    for col in columns:
        table.add_column(col, justify="right")
    for row in top:
        table.add_row(*[f"{row[c]:.3f}" if isinstance(row.get(c), float) else str(row.get(c, "")) for c in columns])
    ctx.console.print(table)
    ctx.console.print(f"result (trial {best['trial']}): [bold]{best['arch_str']}[/]", soft_wrap=True)
    ctx.console.print(f"run directory: {ctx.run_dir}", soft_wrap=True)
