"""nas evaluate: test accuracy, per-class precision/recall/F1, confusion matrix, params, FLOPs, latency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from rich.table import Table

from nascli import plots
from nascli.checkpoint import build_model, checkpoint_data, load_checkpoint
from nascli.data.loader import BatchLoader
from nascli.errors import ConfigError
from nascli.hardware import cost
from nascli.runtime.common import resolve_device, seed_everything
from nascli.runtime.config import check_app
from nascli.runtime.console import table
from nascli.runtime.files import write_csv
from nascli.runtime.report import markdown_table
from nascli.runtime.runner import RunContext
from nascli.training.metrics import predict


@dataclass
class Latency:
    """How latency is measured: median (and IQR) of `repeats` timed runs after `warmup`, at
    `batch_size`, on `threads` CPU threads (None: torch's setting), as a search's hardware target does."""

    batch_size: int
    warmup: int
    repeats: int
    threads: int | None


@dataclass
class EvaluateOptions:
    """The top-level options of conf/evaluate.yaml."""

    checkpoint: str   # a retrain run directory or its model.pt
    seed: int
    device: str
    batch_size: int
    latency: Latency
    plots: bool

    def __post_init__(self) -> None:
        latency = self.latency
        threads = 1 if latency.threads is None else latency.threads
        if min(self.batch_size, latency.batch_size, latency.repeats, threads) < 1 or latency.warmup < 0:
            raise ConfigError("batch_size, latency.batch_size, latency.repeats and latency.threads must be at least "
                              "1, latency.warmup at least 0.")


def run(ctx: RunContext) -> float:
    """Evaluate on the test split; returns the test accuracy."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    options = check_app(ctx.cfg, EvaluateOptions, "evaluate", ())
    seed_everything(options.seed)
    ckpt, path = load_checkpoint(options.checkpoint)
    space, arch, model = build_model(ckpt, str(path))
    device = resolve_device(options.device)
    data = checkpoint_data(ckpt, ctx.paths.data_dir)
    model.to(device)
    preds, targets, loss = predict(model, BatchLoader(data.test, data, options.batch_size, device=device))
    labels = list(range(data.num_classes))
    precision, recall, f1, support = precision_recall_fscore_support(targets, preds, labels=labels, zero_division=0)
    matrix = confusion_matrix(targets, preds, labels=labels)
    per_class = [
        {"class": data.class_names[i], "precision": float(precision[i]), "recall": float(recall[i]),
         "f1": float(f1[i]), "support": int(support[i])}
        for i in labels
    ]
    shape = (data.in_channels, data.input_size, data.input_size)
    latency = options.latency
    timing = cost.time_forward(model, shape, device, latency.batch_size, latency.warmup, latency.repeats,
                               latency.threads)
    results = {
        "test_accuracy": 100.0 * float((preds == targets).float().mean()), "test_loss": loss,
        "macro_f1": float(f1.mean()), "params_m": cost.params_m(model), "flops_m": cost.flops_m(model, shape),
        "latency_ms": timing.median_ms, "latency_iqr_ms": timing.iqr_ms, "latency_batch_size": latency.batch_size,
        "latency_threads": latency.threads or torch.get_num_threads(), "latency_device": str(device),
    }
    write_csv(ctx.run_dir / "per_class.csv", per_class, list(per_class[0]))
    write_csv(ctx.run_dir / "confusion_matrix.csv",
              [{"true": data.class_names[i], **{data.class_names[j]: int(matrix[i][j]) for j in labels}} for i in labels],
              ["true", *data.class_names])
    ctx.report.results.update({"checkpoint": str(path), "arch_str": space.to_str(arch), "search_space": space.name,
                               "dataset": data.name, "test_samples": len(data.test), **results,
                               "per_class": per_class, "confusion_matrix": matrix.tolist()})
    ctx.report.sections.append(("Results", markdown_table([results], list(results))))
    ctx.report.sections.append(("Per class", markdown_table(per_class, list(per_class[0]))))
    if options.plots:
        plots.confusion_matrix(matrix, data.class_names, ctx.run_dir / "confusion_matrix.png", f"{data.name} test")
        ctx.report.sections.append(("Confusion matrix", "![confusion matrix](confusion_matrix.png)"))
    ctx.console.print(table("evaluate", [results], list(results)))
    ctx.console.print(table("per class", per_class, list(per_class[0])))
    _print_matrix(ctx, matrix, data.class_names)
    return results["test_accuracy"]


def _print_matrix(ctx: RunContext, matrix: Any, names: list[str]) -> None:
    """The confusion matrix in the terminal, zeros as dots (when it fits: up to 20 classes)."""
    if len(names) > 20:
        return
    grid = Table(title="confusion matrix (rows: true, columns: predicted)")
    grid.add_column("")
    for name in names:
        grid.add_column(name[:6], justify="right")
    for name, row in zip(names, matrix):
        grid.add_row(name[:10], *[str(int(v)) if v else "." for v in row])
    ctx.console.print(grid)
