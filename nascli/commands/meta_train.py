"""nas meta-train: learn a prior across tasks that `nas search meta=<run dir>` starts from."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf
from rich.table import Table

from nascli.errors import ConfigError
from nascli.meta.tasks import History, histories_from_runs, histories_from_table
from nascli.meta.transfer import TransferConfig, fit_transfer
from nascli.runtime.common import build, get_int, seed_everything
from nascli.runtime.report import markdown_table
from nascli.runtime.runner import RunContext


def load_histories(tasks: Any, space: Any) -> list[History]:
    """The measured architectures of every task in the tasks config."""
    if tasks.kind == "table":
        include = OmegaConf.to_container(tasks.include) if tasks.include is not None else None
        return histories_from_table(str(tasks.table), include, space)
    if tasks.kind == "runs":
        runs = OmegaConf.to_container(tasks.runs) if OmegaConf.is_list(tasks.runs) else [str(tasks.runs)]
        return histories_from_runs([str(r) for r in runs], space)
    raise ConfigError(f"tasks.kind must be table or runs, got {tasks.kind!r}.")


def method_config(cfg: Any, cls: type) -> Any:
    """The method group as its typed dataclass, or a ConfigError naming the unknown option."""
    params = {k: v for k, v in OmegaConf.to_container(cfg.method, resolve=True).items() if k != "name"}
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(f"method.* options of {cfg.method.name}: {exc}") from None


def run(ctx: RunContext) -> None:
    cfg = ctx.cfg
    seed = get_int(cfg, "seed")
    seed_everything(seed)
    space = build(cfg.search_space, "search space")
    if cfg.method.name == "reptile":
        from nascli.meta.reptile_run import run_reptile

        run_reptile(ctx, space, seed)
        return
    if cfg.method.name != "transfer":
        raise ConfigError(f"method must be transfer or reptile, got {cfg.method.name!r}.")
    histories = load_histories(cfg.tasks, space)
    prior, summary = fit_transfer(space, histories, method_config(cfg, TransferConfig), seed)
    prior.save(ctx.run_dir)
    _report(ctx, prior.meta, summary)


def _report(ctx: RunContext, meta: dict[str, Any], summary: dict[str, Any]) -> None:
    from nascli import plots

    rows = [{"task": t["name"], "rows": t["rows"], "classes": t["num_classes"], "input": f"{t['in_channels']}x{t['input_size']}",
             "heldout_spearman": summary["heldout_spearman"].get(t["name"], float("nan"))} for t in meta["tasks"]]
    ctx.report.results.update({"method": meta["method"], "search_space": meta["search_space"], "tasks": rows,
                               "final_loss": summary["loss"][-1], "files": ["prior.pt", "prior.json", "meta_training.png"]})
    plots.meta_training(summary["loss"], ctx.run_dir / "meta_training.png", f"{meta['method']} predictor on {len(rows)} task(s)")
    ctx.report.sections.append(("Tasks", markdown_table(rows, list(rows[0]))))
    ctx.report.sections.append(("Training", "![meta-training](meta_training.png)"))
    table = Table(title=f"meta-train ({meta['method']}, {meta['search_space']} space)")
    for key in rows[0]:
        table.add_column(key, justify="right")
    for row in rows:
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()])
    ctx.console.print(table)
    ctx.console.print(f"prior: {ctx.run_dir / 'prior.pt'}  (use it: nas search meta={ctx.run_dir})", soft_wrap=True)
