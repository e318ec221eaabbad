"""nas export: TorchScript and ONNX files, each checked against PyTorch's outputs, and a model card."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from rich.table import Table

from nascli.checkpoint import build_model, load_checkpoint
from nascli.commands.evaluate import load_data
from nascli.data.loader import BatchLoader
from nascli.errors import ConfigError, DatasetError, NasError
from nascli.runtime.common import get_float, get_int, seed_everything
from nascli.runtime.files import write_bytes, write_text
from nascli.runtime.report import markdown_table
from nascli.runtime.runner import RunContext

log = logging.getLogger("nascli.export")
FORMATS = ("torchscript", "onnx")


def _formats(value: str) -> list[str]:
    if value == "all":
        return list(FORMATS)
    if value not in FORMATS:
        raise ConfigError(f"format must be torchscript, onnx or all, got {value!r}.")
    return [value]


def _check_batch(ckpt: dict[str, Any], data_dir: str, batch_size: int) -> tuple[torch.Tensor, str]:
    """A batch of real test images when the dataset is here, else standard-normal inputs."""
    info = ckpt["data"]
    try:
        data = load_data(ckpt, data_dir)
        x, _ = next(iter(BatchLoader(data.test, data, batch_size)))
        return x, f"{len(x)} test images of {data.name}"
    except (DatasetError, StopIteration):
        gen = torch.Generator().manual_seed(0)
        shape = (batch_size, info["in_channels"], info["input_size"], info["input_size"])
        return torch.randn(shape, generator=gen), f"{batch_size} random inputs (the dataset is not on this machine)"


def _torchscript(model: torch.nn.Module, x: torch.Tensor, path: Path) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice: it is still what many runtimes load
        traced = torch.jit.trace(model, x[:2], check_trace=False)
        tmp = path.with_suffix(".tmp")
        traced.save(str(tmp))
        write_bytes(path, tmp.read_bytes())
        tmp.unlink()
        return torch.jit.load(str(path))(x)


def _onnx(model: torch.nn.Module, x: torch.Tensor, path: Path, opset: int) -> torch.Tensor:
    try:
        import onnxruntime as ort
    except ImportError:
        raise NasError("format=onnx needs onnx, onnxscript and onnxruntime: pip install 'nascli[onnx]'.") from None
    tmp = path.with_suffix(".tmp.onnx")
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x[:2],), str(tmp), input_names=["input"], output_names=["logits"],
                          opset_version=opset, dynamo=True, dynamic_shapes=({0: batch},),
                          external_data=False, verbose=False)
    write_bytes(path, tmp.read_bytes())
    tmp.unlink()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"input": x.numpy()})[0])


def run(ctx: RunContext) -> None:
    cfg = ctx.cfg
    seed_everything(get_int(cfg, "seed"))
    formats = _formats(str(cfg.format))
    batch_size = get_int(cfg, "batch_size", minimum=1)
    atol, rtol = get_float(cfg, "atol", minimum=0.0), get_float(cfg, "rtol", minimum=0.0)
    ckpt, path = load_checkpoint(str(cfg.checkpoint))
    space, arch, model = build_model(ckpt, str(path))
    x, batch_text = _check_batch(ckpt, cfg.paths.data_dir, batch_size)
    with torch.no_grad():
        reference = model(x)
        checks = []
        for fmt in formats:
            out_path = ctx.run_dir / ("model.torchscript.pt" if fmt == "torchscript" else "model.onnx")
            outputs = _torchscript(model, x, out_path) if fmt == "torchscript" else _onnx(model, x, out_path, get_int(cfg, "onnx_opset", minimum=7))
            diff = (outputs - reference).abs().max().item()
            checks.append({"format": fmt, "file": out_path.name, "max_abs_diff": diff,
                           "same_predictions": bool((outputs.argmax(1) == reference.argmax(1)).all()),
                           "passed": bool(torch.allclose(outputs, reference, atol=atol, rtol=rtol)),
                           "size_mb": out_path.stat().st_size / 1e6})
    ctx.report.results.update({"checkpoint": str(path), "arch_str": space.to_str(arch), "checked_on": batch_text,
                               "atol": atol, "rtol": rtol, "exports": checks})
    ctx.report.sections.append(("Exports", markdown_table(checks, list(checks[0]))))
    write_text(ctx.run_dir / "MODEL_CARD.md", _model_card(ckpt, space, arch, checks, batch_text))
    _print(ctx, checks)
    failed = [c["format"] for c in checks if not c["passed"]]
    if failed:
        raise NasError(f"The {', '.join(failed)} export does not reproduce PyTorch's outputs within atol={atol}, rtol={rtol}; "
                       f"see report.json (files are kept for inspection).")


def _print(ctx: RunContext, checks: list[dict[str, Any]]) -> None:
    table = Table(title="export (outputs checked against PyTorch)")
    for key in checks[0]:
        table.add_column(key, justify="right")
    for row in checks:
        table.add_row(*[f"{v:.3g}" if isinstance(v, float) else str(v) for v in row.values()])
    ctx.console.print(table)


def _model_card(ckpt: dict[str, Any], space: Any, arch: Any, checks: list[dict[str, Any]], batch_text: str) -> str:
    data, metrics = ckpt["data"], ckpt.get("metrics", {})
    shape = f"(N, {data['in_channels']}, {data['input_size']}, {data['input_size']})"
    lines = [
        "# Model card", "",
        f"- architecture ({space.name} space): `{space.to_str(arch)}`",
        f"- trained on: {data['name']} ({data['train']} training images, {data['num_classes']} classes), "
        f"{ckpt.get('epoch', '?')} epochs with nascli {ckpt.get('nascli', '?')}",
        f"- test accuracy: {metrics.get('test_accuracy', float('nan')):.2f}%; params {metrics.get('params_m', float('nan')):.4f} M; "
        f"FLOPs (MACs) {metrics.get('flops_m', float('nan')):.3f} M",
        "", "## Input", "",
        f"float32 tensor {shape}: pixel values divided by {data['max_value']:g}, then normalised per channel "
        f"with mean {[round(m, 4) for m in data['mean']]} and std {[round(s, 4) for s in data['std']]}.",
        "Output: logits (N, classes); classes in order: " + ", ".join(map(str, data["class_names"])) + ".",
        "", "## Files", "", markdown_table(checks, list(checks[0])), "",
        f"Each file was reloaded and run on {batch_text}; `passed` means its outputs match PyTorch's.",
        "", "## Limits", "",
        "Accuracy was measured on the dataset's test split only; re-check on your own data before deployment.",
    ]
    return "\n".join(lines) + "\n"
