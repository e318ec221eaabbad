"""nas export: TorchScript and ONNX files, each checked against PyTorch's outputs, and a model card."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nascli.checkpoint import build_model, checkpoint_data, load_checkpoint
from nascli.data.loader import BatchLoader
from nascli.errors import ConfigError, DatasetError, NasError
from nascli.runtime.common import seed_everything
from nascli.runtime.config import check_app
from nascli.runtime.console import table
from nascli.runtime.files import write_bytes, write_text
from nascli.runtime.report import markdown_table
from nascli.runtime.runner import RunContext

FORMATS = ("torchscript", "onnx")


@dataclass
class ExportOptions:
    """The top-level options of conf/export.yaml."""

    checkpoint: str   # a retrain run directory or its model.pt
    format: str       # torchscript | onnx | all
    seed: int
    batch_size: int   # size of the batch the exported outputs are checked on
    atol: float       # allowed absolute difference from PyTorch's outputs
    rtol: float
    onnx_opset: int

    def __post_init__(self) -> None:
        if self.format not in (*FORMATS, "all"):
            raise ConfigError(f"format must be torchscript, onnx or all, got {self.format!r}.")
        if self.batch_size < 1 or self.atol < 0 or self.rtol < 0 or self.onnx_opset < 7:
            raise ConfigError("export needs batch_size >= 1, atol and rtol >= 0 and onnx_opset >= 7.")

    def formats(self) -> list[str]:
        return list(FORMATS) if self.format == "all" else [self.format]


def _check_batch(ckpt: dict[str, Any], data_dir: str, batch_size: int) -> tuple[torch.Tensor, str]:
    """A batch of real test images when the dataset is here, else standard-normal inputs."""
    info = ckpt["data"]
    try:
        data = checkpoint_data(ckpt, data_dir)
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


def run(ctx: RunContext) -> float:
    """Export and check; returns the largest absolute difference from PyTorch's outputs."""
    options = check_app(ctx.cfg, ExportOptions, "export", ())
    seed_everything(options.seed)
    atol, rtol = options.atol, options.rtol
    ckpt, path = load_checkpoint(options.checkpoint)
    space, arch, model = build_model(ckpt, str(path))
    x, batch_text = _check_batch(ckpt, ctx.paths.data_dir, options.batch_size)
    with torch.no_grad():
        reference = model(x)
        checks = []
        for fmt in options.formats():
            out_path = ctx.run_dir / ("model.torchscript.pt" if fmt == "torchscript" else "model.onnx")
            outputs = (_torchscript(model, x, out_path) if fmt == "torchscript"
                       else _onnx(model, x, out_path, options.onnx_opset))
            diff = (outputs - reference).abs().max().item()
            checks.append({"format": fmt, "file": out_path.name, "max_abs_diff": diff,
                           "same_predictions": bool((outputs.argmax(1) == reference.argmax(1)).all()),
                           "passed": bool(torch.allclose(outputs, reference, atol=atol, rtol=rtol)),
                           "size_mb": out_path.stat().st_size / 1e6})
    ctx.report.results.update({"checkpoint": str(path), "arch_str": space.to_str(arch), "checked_on": batch_text,
                               "atol": atol, "rtol": rtol, "exports": checks})
    ctx.report.sections.append(("Exports", markdown_table(checks, list(checks[0]))))
    write_text(ctx.run_dir / "MODEL_CARD.md", _model_card(ckpt, space, arch, checks, batch_text))
    ctx.console.print(table("export (outputs checked against PyTorch)", checks, list(checks[0])))
    failed = [c["format"] for c in checks if not c["passed"]]
    if failed:
        raise NasError(f"The {', '.join(failed)} export does not reproduce PyTorch's outputs within atol={atol}, rtol={rtol}; "
                       f"see report.json (files are kept for inspection).")
    return max(c["max_abs_diff"] for c in checks)


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
