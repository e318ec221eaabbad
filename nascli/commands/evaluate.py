"""nas evaluate: test accuracy with a bootstrap interval, per-class precision/recall/F1, confusion
matrix, params, FLOPs, and latency on the configured hardware target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from nascli import run_plots
from nascli.checkpoint import build_model, checkpoint_data, load_checkpoint
from nascli.data.loader import BatchLoader
from nascli.errors import ConfigError
from nascli.hardware import cost
from nascli.hardware.profiler import CostProfiler, MeasuredLatency, TableLatency
from nascli.hardware.target import build_target
from nascli.runtime.common import resolve_device, seed_everything
from nascli.runtime.config import check_app
from nascli.runtime.console import ResultTable, table
from nascli.runtime.files import write_csv
from nascli.runtime.run_report import markdown_table
from nascli.runtime.context import RunContext
from nascli.training.metrics import bootstrap_interval, predict
from nascli.training.text import example_tokens, is_lm, is_text, measure
from nascli.weight_sharing.batches import eval_batches


@dataclass
class Latency:
    """How latency is measured: median (and IQR) of `repeats` timed runs after `warmup`, at
    `batch_size`, on `threads` CPU threads (None: torch's setting), as a search's hardware target does."""

    batch_size: int
    warmup: int
    repeats: int
    threads: int | None


@dataclass
class Bootstrap:
    """The percentile bootstrap over test examples: `samples` resamples, a central `confidence` interval."""

    samples: int
    confidence: float


@dataclass
class EvaluateOptions:
    """The top-level options of conf/evaluate.yaml."""

    checkpoint: str   # a retrain run directory or its model.pt
    seed: int
    device: str
    batch_size: int
    latency: Latency
    bootstrap: Bootstrap
    plots: bool

    def __post_init__(self) -> None:
        latency = self.latency
        threads = 1 if latency.threads is None else latency.threads
        if min(self.batch_size, latency.batch_size, latency.repeats, threads) < 1 or latency.warmup < 0:
            raise ConfigError("batch_size, latency.batch_size, latency.repeats and latency.threads must be at least "
                              "1, latency.warmup at least 0.")
        if self.bootstrap.samples < 1 or not 0 < self.bootstrap.confidence < 1:
            raise ConfigError(f"bootstrap.samples must be at least 1 and bootstrap.confidence between 0 and 1 "
                              f"(e.g. 0.95), got {self.bootstrap.samples} and {self.bootstrap.confidence}.")


def run(ctx: RunContext) -> float:
    """Evaluate on the test split; returns the test accuracy (a language model's test perplexity)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    options = check_app(ctx.cfg, EvaluateOptions, "evaluate", ("hardware",))
    hardware = build_target(ctx.cfg.hardware)
    seed_everything(options.seed)
    ckpt, path = load_checkpoint(options.checkpoint)
    space, arch, model = build_model(ckpt, str(path))
    device = resolve_device(options.device)
    data = checkpoint_data(ckpt, ctx.paths.data_dir)
    model.to(device)
    example = example_tokens(data, data.test).to(device) if is_text(data) else None  # a token network's input
    if is_lm(data):
        return _language_model(ctx, options, hardware, space, arch, model, data, path, device, example)
    batches = eval_batches(data.test, data, options.batch_size, device) if is_text(data) else \
        BatchLoader(data.test, data, options.batch_size, device=device)
    preds, targets, loss = predict(model, batches)
    labels = list(range(data.num_classes))
    precision, recall, f1, support = precision_recall_fscore_support(targets, preds, labels=labels, zero_division=0)
    matrix = confusion_matrix(targets, preds, labels=labels)
    per_class = [
        {"class": data.class_names[i], "precision": float(precision[i]), "recall": float(recall[i]),
         "f1": float(f1[i]), "support": int(support[i])}
        for i in labels
    ]
    boot = options.bootstrap
    interval = bootstrap_interval(preds, targets, data.num_classes, boot.samples, boot.confidence, options.seed)
    shape = (data.in_channels, data.input_size, data.input_size)
    results = {
        "test_accuracy": 100.0 * float((preds == targets).float().mean()),
        "test_accuracy_ci_low": interval["accuracy_low"], "test_accuracy_ci_high": interval["accuracy_high"],
        "test_loss": loss, "macro_f1": float(f1.mean()),
        "macro_f1_ci_low": interval["macro_f1_low"], "macro_f1_ci_high": interval["macro_f1_high"],
        "params_m": cost.params_m(model), "flops_m": cost.flops_m(model, shape, example),
        **_latency(hardware.profiler, options.latency, model, space, arch,
                   (data.num_classes, data.in_channels, data.input_size), device, example),
    }
    broken = hardware.objective.violations(results)
    ctx.report.results.update({
        "bootstrap": {"samples": boot.samples, "confidence": boot.confidence, "seed": options.seed,
                      "method": "percentile bootstrap over test examples"},
        "hardware": hardware.describe(), "limits_broken": broken})
    if broken:
        ctx.console.print(f"[yellow]Over the hardware target's limits: {', '.join(broken)}[/yellow]")
    write_csv(ctx.run_dir / "per_class.csv", per_class, list(per_class[0]))
    write_csv(ctx.run_dir / "confusion_matrix.csv",
              [{"true": data.class_names[i], **{data.class_names[j]: int(matrix[i][j]) for j in labels}} for i in labels],
              ["true", *data.class_names])
    ctx.report.results.update({"checkpoint": str(path), "arch_str": space.to_str(arch), "search_space": space.name,
                               "dataset": data.name, "test_samples": len(data.test), **results,
                               "per_class": per_class, "confusion_matrix": matrix.tolist()})
    rows = [{"metric": key, "value": value} for key, value in results.items()]
    ctx.report.sections.append(("Results", markdown_table(rows, ["metric", "value"])))
    ctx.report.sections.append(("Per class", markdown_table(per_class, list(per_class[0]))))
    if options.plots:
        run_plots.confusion_matrix(matrix, data.class_names, ctx.run_dir / "confusion_matrix.png", f"{data.name} test")
        ctx.report.sections.append(("Confusion matrix", "![confusion matrix](confusion_matrix.png)"))
    ctx.console.print(table(f"evaluate: {len(targets)} test images; ci = {100 * boot.confidence:g}% bootstrap "
                            f"interval ({boot.samples} resamples)", rows, ["metric", "value"]))
    ctx.console.print(table("per class", per_class, list(per_class[0])))
    _print_matrix(ctx, matrix, data.class_names)
    return results["test_accuracy"]


def _language_model(ctx: RunContext, options: EvaluateOptions, hardware: Any, space: Any, arch: Any, model: Any,
                    data: Any, path: Any, device: Any, example: torch.Tensor) -> float:
    """A language model's test perplexity (the stream read once in order, the hidden state carried),
    next-token accuracy, params, FLOPs and latency of one sequence of bptt tokens."""
    measured = measure(model, model, data, eval_batches(data.test, data, options.batch_size, device))
    scores = {"test_perplexity": measured["perplexity"], "test_loss": measured["loss"],
              "test_token_accuracy": measured["accuracy"]}
    shape = (data.in_channels, data.input_size, data.input_size)
    results = {**scores, "test_tokens": len(data.test), "params_m": cost.params_m(model),
               "flops_m": cost.flops_m(model, shape, example),
               **_latency(hardware.profiler, options.latency, model, space, arch,
                          (data.num_classes, data.in_channels, data.input_size), device, example)}
    ctx.report.results.update({"checkpoint": str(path), "arch_str": space.to_str(arch), "search_space": space.name,
                               "dataset": data.name, "hardware": hardware.describe(), **results,
                               "sequence_length": data.input_size, "vocab_size": data.vocab_size})
    rows = [{"metric": key, "value": value} for key, value in results.items()]
    ctx.report.sections.append(("Results", markdown_table(rows, ["metric", "value"])))
    ctx.console.print(table(f"evaluate: {len(data.test)} test tokens (language model; perplexity: lower is better)",
                            rows, ["metric", "value"]))
    return results["test_perplexity"]


def _latency(profiler: CostProfiler, own: Latency, model: Any, space: Any, arch: Any, shape: tuple[int, int, int],
             device: Any, example: torch.Tensor | None = None) -> dict[str, Any]:
    """Latency of the network as the hardware target gives it: measured with the target's settings
    (cpu, cuda), estimated from its table (lut), or, with hardware=none, measured on the evaluation
    device with this command's latency.* settings."""
    num_classes, channels, size = shape
    if isinstance(profiler, TableLatency):
        meta = profiler.table.meta
        return {"latency_ms": profiler.table.estimate(space, arch, shape), "latency_iqr_ms": None,
                "latency_batch_size": _count(meta.get("batch_size")), "latency_threads": _count(meta.get("threads")),
                "latency_device": meta.get("device"), "latency_target": f"lut {profiler.table.path}"}
    if isinstance(profiler, MeasuredLatency):
        timing = profiler.time(model, (channels, size, size), example)
        return {"latency_ms": timing.median_ms, "latency_iqr_ms": timing.iqr_ms,
                "latency_batch_size": profiler.batch_size,
                "latency_threads": profiler.threads or torch.get_num_threads(),
                "latency_device": profiler.device_name(), "latency_target": profiler.name}
    timing = cost.time_forward(model, (channels, size, size), device, own.batch_size, own.warmup, own.repeats,
                               own.threads, example)
    return {"latency_ms": timing.median_ms, "latency_iqr_ms": timing.iqr_ms, "latency_batch_size": own.batch_size,
            "latency_threads": own.threads or torch.get_num_threads(), "latency_device": str(device),
            "latency_target": "latency.* settings"}


def _count(value: Any) -> Any:
    """A latency table's count (read from CSV as text) as an integer, where it is one."""
    return int(value) if str(value).isdigit() else value


def _print_matrix(ctx: RunContext, matrix: Any, names: list[str]) -> None:
    """The confusion matrix in the terminal, zeros as dots (when it fits: up to 20 classes)."""
    if len(names) > 20:
        return
    grid = ResultTable(title="confusion matrix (rows: true, columns: predicted)")
    grid.add_column("")
    for name in names:
        grid.add_column(name[:6], justify="right")
    for name, row in zip(names, matrix):
        grid.add_row(name[:10], *[str(int(v)) if v else "." for v in row])
    ctx.console.print(grid)
