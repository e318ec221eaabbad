"""nas retrain: train a found genotype from scratch and save a checkpoint."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from nascli import plots
from nascli.checkpoint import FILENAME, save_checkpoint
from nascli.errors import ConfigError
from nascli.genotype import genotype_record, load_genotype
from nascli.runtime.common import build, check_trainer, get_int, resolve_device, seed_everything
from nascli.runtime.files import write_csv
from nascli.runtime.report import markdown_table
from nascli.runtime.runner import RunContext
from nascli.training.loop import TrainConfig, accuracy, train

COLUMNS = ["epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "epoch_s"]


def _resize(space: Any, overrides: dict[str, Any]) -> Any:
    """The same space with network sizes overridden (network.channels=36 ...)."""
    if not overrides:
        return space
    config = {**space.config(), **overrides}
    try:
        return type(space)(**config)
    except TypeError:
        known = ", ".join(sorted(space.config()))
        raise ConfigError(f"network.* keys for the {space.name} space are: {known}; got {', '.join(overrides)}.") from None


def run(ctx: RunContext) -> None:
    cfg = ctx.cfg
    seed = get_int(cfg, "seed")
    check_trainer(cfg)
    space, arch, record = load_genotype(str(cfg.genotype))
    space = _resize(space, OmegaConf.to_container(cfg.network, resolve=True) or {})
    seed_everything(seed)
    device = resolve_device(cfg.device)
    data = build(cfg.dataset, "dataset")
    tcfg = TrainConfig.from_config(cfg.trainer)
    model = space.build_network(arch, data.num_classes, data.in_channels, data.input_size)
    genotype = {**genotype_record(space, arch, record.get("metrics", {})), "source": str(cfg.genotype)}
    dataset_config = OmegaConf.to_container(cfg.dataset, resolve=True)
    ctx.report.results.update({"genotype": genotype["arch_str"], "search_space": space.name, "dataset": data.name,
                               "seed": seed, "device": str(device), "epochs": tcfg.epochs})
    history: list[dict[str, float]] = []

    def on_epoch(record_: dict[str, float]) -> None:
        history.append(record_)
        write_csv(ctx.run_dir / "metrics.csv", history, COLUMNS)
        save_checkpoint(ctx.run_dir / FILENAME, model, genotype, data.describe(), dataset_config,
                        {"config": OmegaConf.to_container(cfg, resolve=True), "epoch": record_["epoch"]})
        progress.update(task, advance=1, acc=f"{record_['val_accuracy']:.2f}")

    with Progress(TextColumn("[bold]retrain"), BarColumn(), MofNCompleteColumn(), TextColumn("val {task.fields[acc]}%"),
                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=ctx.console) as progress:
        task = progress.add_task("retrain", total=tcfg.epochs, acc="-")
        train(model, data, tcfg, device, seed=seed, on_epoch=on_epoch)
    results = _finish(ctx, model, data, tcfg, device, history, genotype)
    save_checkpoint(ctx.run_dir / FILENAME, model, genotype, data.describe(), dataset_config,
                    {"config": OmegaConf.to_container(cfg, resolve=True), "epoch": len(history), "metrics": results})


def _finish(ctx: RunContext, model: Any, data: Any, tcfg: TrainConfig, device: Any,
            history: list[dict[str, float]], genotype: dict[str, Any]) -> dict[str, Any]:
    from nascli.hardware import cost

    test_acc, test_loss = accuracy(model, data.test, data, tcfg.eval_batch_size, device)
    last = history[-1] if history else {}
    results = {
        "val_accuracy": last.get("val_accuracy"), "train_accuracy": last.get("train_accuracy"),
        "test_accuracy": test_acc, "test_loss": test_loss, "params_m": cost.params_m(model),
        "flops_m": cost.flops_m(model, (data.in_channels, data.input_size, data.input_size)),
        "train_s": sum(h["epoch_s"] for h in history),
    }
    ctx.report.results.update({**results, "checkpoint": FILENAME, "data": data.describe()})
    if ctx.cfg.plots and history:
        plots.training_curves(history, ctx.run_dir / "training_curves.png", f"retrain {genotype['arch_str'][:60]}")
        ctx.report.sections.append(("Training curves", "![training curves](training_curves.png)"))
    ctx.report.sections.append(("Results", markdown_table([results], list(results))))
    ctx.report.sections.append(("Per epoch", markdown_table(history, COLUMNS)))
    table = Table(title="retrain")
    for key in results:
        table.add_column(key, justify="right")
    table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in results.values()])
    ctx.console.print(table)
    ctx.console.print(f"checkpoint: {ctx.run_dir / FILENAME}")
    return results
