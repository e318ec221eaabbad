"""nas evaluate: test accuracy, per-class precision/recall/F1, confusion matrix, params, FLOPs, latency."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf
from rich.table import Table

from nascli import plots
from nascli.checkpoint import build_model, load_checkpoint
from nascli.data.loader import BatchLoader
from nascli.runtime.common import build, get_int, resolve_device, seed_everything
from nascli.runtime.files import write_csv
from nascli.runtime.report import markdown_table
from nascli.runtime.runner import RunContext
from nascli.training.loop import predict


def load_data(ckpt: dict[str, Any], data_dir: str) -> Any:
    """The checkpoint's dataset, read from this machine's paths.data_dir."""
    node = dict(ckpt["dataset_config"])
    if "root" in node:
        node["root"] = data_dir
    return build(OmegaConf.create(node), "dataset")


def run(ctx: RunContext) -> None:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from nascli.hardware import cost

    cfg = ctx.cfg
    seed_everything(get_int(cfg, "seed"))
    batch_size = get_int(cfg, "batch_size", minimum=1)
    ckpt, path = load_checkpoint(str(cfg.checkpoint))
    space, arch, model = build_model(ckpt, str(path))
    device = resolve_device(cfg.device)
    data = load_data(ckpt, cfg.paths.data_dir)
    model.to(device)
    preds, targets, loss = predict(model, BatchLoader(data.test, data, batch_size, device=device))
    labels = list(range(data.num_classes))
    precision, recall, f1, support = precision_recall_fscore_support(targets, preds, labels=labels, zero_division=0)
    matrix = confusion_matrix(targets, preds, labels=labels)
    per_class = [
        {"class": data.class_names[i], "precision": float(precision[i]), "recall": float(recall[i]),
         "f1": float(f1[i]), "support": int(support[i])}
        for i in labels
    ]
    shape = (data.in_channels, data.input_size, data.input_size)
    lat = cfg.latency
    results = {
        "test_accuracy": 100.0 * float((preds == targets).float().mean()), "test_loss": loss,
        "macro_f1": float(f1.mean()), "params_m": cost.params_m(model), "flops_m": cost.flops_m(model, shape),
        "latency_ms": cost.latency_ms(model, shape, device, get_int(cfg, "latency.batch_size", minimum=1),
                                      get_int(cfg, "latency.warmup", minimum=0), get_int(cfg, "latency.repeats", minimum=1)),
        "latency_batch_size": lat.batch_size, "latency_device": str(device),
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
    if cfg.plots:
        plots.confusion_matrix(matrix, data.class_names, ctx.run_dir / "confusion_matrix.png", f"{data.name} test")
        ctx.report.sections.append(("Confusion matrix", "![confusion matrix](confusion_matrix.png)"))
    _print(ctx, results, per_class, matrix, data.class_names)


def _print(ctx: RunContext, results: dict[str, Any], per_class: list[dict[str, Any]], matrix: Any, names: list[str]) -> None:
    summary = Table(title="evaluate")
    for key in results:
        summary.add_column(key, justify="right")
    summary.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in results.values()])
    classes = Table(title="per class")
    for key in per_class[0]:
        classes.add_column(key, justify="right")
    for row in per_class:
        classes.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()])
    ctx.console.print(summary)
    ctx.console.print(classes)
    if len(names) <= 20:
        cm = Table(title="confusion matrix (rows: true, columns: predicted)")
        cm.add_column("")
        for name in names:
            cm.add_column(name[:6], justify="right")
        for name, row in zip(names, matrix):
            cm.add_row(name[:10], *[str(int(v)) if v else "." for v in row])
        ctx.console.print(cm)
