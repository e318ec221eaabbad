"""`nas meta-train method=reptile`: class-subset tasks in, a meta-learned supernet prior out."""

from __future__ import annotations

import random
from typing import Any

import torch
from omegaconf import OmegaConf
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from nascli.data.datasets import DataSplits, subset_classes
from nascli.errors import ConfigError
from nascli.meta.prior import FORMAT, ArchPrior
from nascli.meta.reptile import ReptileConfig, meta_train
from nascli.runtime.common import build, get_int
from nascli.runtime.report import markdown_table
from nascli.runtime.runner import RunContext


def gene_log_probs(space: Any, net: Any) -> list[torch.Tensor]:
    """A gene prior from the meta-learned alphas: exact where genes are edges' ops (nb201),
    uniform where genes pair ops with inputs (darts: the alphas do not factor that way)."""
    weights = net.arch_weights()
    if space.name == "nb201":
        return [torch.log(row.clamp_min(1e-8)) for row in weights["cell"]]
    return [torch.full((c,), -torch.log(torch.tensor(float(c))).item()) for c in space.cardinalities()]


def task_sampler(cfg: Any) -> tuple[Any, list[int], int]:
    """(sample_task(rng), class pool, ways) for `tasks=subsets`, loading the dataset once."""
    tasks = cfg.tasks
    if tasks.kind != "subsets":
        raise ConfigError("method=reptile learns from class-subset tasks: use tasks=subsets "
                          "(tasks.ways=<classes per task> tasks.classes=[<class ids to draw from>]).")
    ways = get_int(cfg, "tasks.ways", minimum=2)
    data: DataSplits = build(cfg.dataset, "dataset")
    pool = list(range(data.num_classes)) if tasks.classes is None else [int(c) for c in tasks.classes]
    if ways > len(pool) or any(not 0 <= c < data.num_classes for c in pool):
        raise ConfigError(f"tasks.classes must be at least tasks.ways={ways} class ids of {data.name} "
                          f"(0..{data.num_classes - 1}), got {pool}.")

    def sample_task(rng: random.Random) -> DataSplits:
        classes = rng.sample(pool, ways)  # random order: labels are shuffled across tasks
        task = subset_classes(data, classes)
        task.classes = classes  # recorded in the history
        return task

    return sample_task, pool, ways


def run_reptile(ctx: RunContext, space: Any, seed: int) -> None:
    from nascli.commands.meta_train import method_config

    cfg = ctx.cfg
    rcfg: ReptileConfig = method_config(cfg, ReptileConfig)
    sample_task, pool, ways = task_sampler(cfg)
    probe = sample_task(random.Random(seed))
    torch.manual_seed(seed)
    try:
        net = space.build_supernet(ways, probe.in_channels, probe.input_size, mode=rcfg.mode,
                                   channels=rcfg.channels, layers=rcfg.layers)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"method.mode/channels/layers do not give a {space.name} supernet: {exc}") from None
    with Progress(TextColumn("[bold]reptile"), BarColumn(), MofNCompleteColumn(), TextColumn("adapted {task.fields[acc]}"),
                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=ctx.console) as bar:
        task_id = bar.add_task("reptile", total=rcfg.meta_iterations, acc="-")

        def on_iteration(record: dict[str, Any]) -> None:
            acc = record.get("adapted_accuracy")
            bar.update(task_id, advance=1, **({"acc": f"{acc:.1f}%"} if acc is not None else {}))

        history = meta_train(net, sample_task, rcfg, seed, on_iteration)
    derived = space.to_str(net.derive())
    meta = {
        "format": FORMAT, "method": "reptile", "search_space": space.name, "space_config": space.config(),
        "cardinalities": space.cardinalities(), "seed": seed, "config": vars(rcfg),
        "supernet": {"mode": rcfg.mode, "channels": rcfg.channels, "layers": rcfg.layers, "num_classes": ways,
                     "in_channels": probe.in_channels, "input_size": probe.input_size},
        "tasks": [{"name": f"{probe.name}: {ways} of classes {pool}", "num_classes": ways, "in_channels": probe.in_channels,
                   "input_size": probe.input_size, "samples": len(probe.train), "extra": {}}],
        "dataset": OmegaConf.to_container(cfg.dataset, resolve=True), "derived": derived,
        "history": [{k: v for k, v in h.items() if k != "classes"} for h in history],
    }
    ArchPrior(meta, gene_log_probs(space, net), None, supernet=net.state_dict()).save(ctx.run_dir)
    _report(ctx, meta, history)


def _report(ctx: RunContext, meta: dict[str, Any], history: list[dict[str, Any]]) -> None:
    from nascli import plots

    rows = [{"iteration": h["iteration"], "eps": h["eps"], "adapted_accuracy": h["adapted_accuracy"]} for h in history]
    ctx.report.results.update({"method": "reptile", "search_space": meta["search_space"], "supernet": meta["supernet"],
                               "derived": meta["derived"], "history": rows,
                               "final_adapted_accuracy": rows[-1]["adapted_accuracy"] if rows else None,
                               "files": ["prior.pt", "prior.json", "meta_training.png"]})
    plots.reptile_progress(rows, ctx.run_dir / "meta_training.png", f"reptile on {meta['tasks'][0]['name']}")
    ctx.report.sections.append(("Adapted accuracy on fresh tasks", markdown_table(rows, list(rows[0])) if rows else "-"))
    ctx.report.sections.append(("Training", "![meta-training](meta_training.png)"))
    table = Table(title=f"meta-train (reptile, {meta['search_space']} supernet, {meta['supernet']['num_classes']}-way tasks)")
    for key in ("iteration", "adapted_accuracy"):
        table.add_column(key, justify="right")
    for row in rows:
        table.add_row(str(row["iteration"]), f"{row['adapted_accuracy']:.1f}")
    ctx.console.print(table)
    ctx.console.print(f"derived cell: {meta['derived']}\nprior: {ctx.run_dir / 'prior.pt'}  "
                      f"(use it: nas search strategy=darts meta={ctx.run_dir})", soft_wrap=True)
