"""nas export: TorchScript and ONNX files, each checked against PyTorch's outputs, and a model card;
with quantize=int8 also an int8 ONNX model (ONNX Runtime quantisation), compared with the fp32 one
for size, latency and accuracy."""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nascli.checkpoint import build_model, checkpoint_data, load_checkpoint
from nascli.data.loader import BatchLoader
from nascli.errors import ConfigError, DatasetError, NasError
from nascli.hardware.cost import Timing
from nascli.runtime.common import seed_everything
from nascli.runtime.config import check_app
from nascli.runtime.console import table
from nascli.runtime.files import write_bytes, write_text
from nascli.runtime.run_report import markdown_table
from nascli.runtime.context import RunContext

FORMATS = ("torchscript", "onnx")
QUANTIZE = ("int8",)
INT8_METHODS = ("static", "dynamic")
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
ONNX_MISSING = ("format=onnx (and format=all, quantize=int8) needs onnx, onnxscript and onnxruntime, which are "
                "not installed here: pip install 'nascli[onnx]' (or export format=torchscript). Nothing was written.")


@dataclass
class Int8:
    """How quantize=int8 quantises the fp32 ONNX model with ONNX Runtime, and what it is compared on."""

    method: str                  # static (QDQ, calibrated activations) | dynamic (activations quantised per run)
    calibration: int             # training images whose activation ranges fix the static scales
    per_channel: bool            # one weight scale per output channel rather than per tensor
    reduce_range: bool           # 7-bit weights: no overflow of int16 sums on x86 CPUs without VNNI
    test_samples: int | None     # test images both models are scored on (null: the whole test split)
    min_agreement: float | None  # fail when int8 and fp32 agree on fewer top-1 predictions (null: report only)


@dataclass
class OnnxLatency:
    """How the fp32 and int8 ONNX models are timed on the CPU with ONNX Runtime."""

    batch_size: int
    warmup: int
    repeats: int
    threads: int | None          # ONNX Runtime's intra-op threads (null: its default, the core count)


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
    quantize: str | None  # null | int8
    int8: Int8
    latency: OnnxLatency

    def __post_init__(self) -> None:
        if self.format not in (*FORMATS, "all"):
            raise ConfigError(f"format must be torchscript, onnx or all, got {self.format!r}.")
        if self.batch_size < 1 or self.atol < 0 or self.rtol < 0 or self.onnx_opset < 7:
            raise ConfigError("export needs batch_size >= 1, atol and rtol >= 0 and onnx_opset >= 7.")
        if self.quantize is not None and self.quantize not in QUANTIZE:
            raise ConfigError(f"quantize must be null or int8, got {self.quantize!r}.")
        q, t = self.int8, self.latency
        if q.method not in INT8_METHODS:
            raise ConfigError(f"int8.method must be static or dynamic, got {q.method!r}.")
        if q.calibration < 1 or (q.test_samples is not None and q.test_samples < 1):
            raise ConfigError("int8.calibration and int8.test_samples must be at least 1.")
        if q.min_agreement is not None and not 0 <= q.min_agreement <= 1:
            raise ConfigError(f"int8.min_agreement is a share between 0 and 1, got {q.min_agreement}.")
        if min(t.batch_size, t.repeats, 1 if t.threads is None else t.threads) < 1 or t.warmup < 0:
            raise ConfigError("latency.batch_size, repeats and threads must be at least 1, latency.warmup at least 0.")

    def formats(self) -> list[str]:
        """The formats written; int8 quantises the ONNX model, so quantize=int8 writes it too."""
        chosen = list(FORMATS) if self.format == "all" else [self.format]
        return chosen + ["onnx"] if self.quantize and "onnx" not in chosen else chosen


def _local_data(ckpt: dict[str, Any], data_dir: str) -> Any:
    """The checkpoint's dataset when it is on this machine (None otherwise: export needs no data)."""
    try:
        data = checkpoint_data(ckpt, data_dir)
    except DatasetError:
        return None
    return data if len(data.test) else None


def _text(ckpt: dict[str, Any]) -> bool:
    """Whether the checkpoint's network reads token ids (dataset=text_lm, text_classification)."""
    return "task" in ckpt["data"]


def _random_inputs(ckpt: dict[str, Any], count: int, seed: int) -> torch.Tensor:
    """Standard-normal inputs of the network's shape (normalised images have about that spread), or
    random token ids (not padding) of its sequence length for a text network."""
    info = ckpt["data"]
    gen = torch.Generator().manual_seed(seed)
    if _text(ckpt):
        return torch.randint(1, max(2, info["vocab_size"]), (count, info["seq_len"]), generator=gen)
    return torch.randn((count, info["in_channels"], info["input_size"], info["input_size"]), generator=gen)


def _check_batch(ckpt: dict[str, Any], data: Any, batch_size: int) -> tuple[torch.Tensor, str]:
    """A batch of real test images when the dataset is here, else standard-normal inputs."""
    if data is not None and _text(ckpt):  # fixed-length windows of the test stream, or padded test texts
        from nascli.training.text import example_tokens

        x = example_tokens(data, data.test, batch_size) if data.task == "lm" else data.test.images[:batch_size]
        return x, f"{len(x)} test sequences of {data.input_size} tokens of {data.name}"
    if data is not None:
        x, _ = next(iter(BatchLoader(data.test, data, batch_size)))
        return x, f"{len(x)} test images of {data.name}"
    return _random_inputs(ckpt, batch_size, 0), f"{batch_size} random inputs (the dataset is not on this machine)"


def _torchscript(model: torch.nn.Module, x: torch.Tensor, path: Path) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice: it is still what many runtimes load
        traced = torch.jit.trace(model, x[:2], check_trace=False)
        tmp = path.with_suffix(".tmp")
        traced.save(str(tmp))
        write_bytes(path, tmp.read_bytes())
        tmp.unlink()
        return torch.jit.load(str(path))(x)


def onnx_metadata(ckpt: dict[str, Any], space: Any, arch: Any) -> dict[str, str]:
    """What model.onnx carries besides the graph (its metadata_props, which Netron and ONNX Runtime's
    get_modelmeta show): class names in output order, and how to make an input, as JSON texts."""
    from nascli import __version__

    data = ckpt["data"]
    if _text(ckpt):
        facts = {"shape": [data["seq_len"]], "dtype": "int64 token ids", "task": data["task"], "tokens": data["tokens"],
                 "vocab_size": data["vocab_size"],
                 "note": f"a fixed sequence length of {data['seq_len']} tokens (the export unrolls the recurrent cell "
                         "over it); id 0 pads a text classifier's input"}
        return {"class_names": json.dumps([str(n) for n in data["class_names"]]), "input": json.dumps(facts),
                "dataset": str(data.get("name", "")), "search_space": space.name, "architecture": space.to_str(arch),
                "nascli": __version__}
    input_facts = {"shape": [data["in_channels"], data["input_size"], data["input_size"]],
                   "max_value": data["max_value"], "mean": data["mean"], "std": data["std"],
                   "preprocess": data.get("preprocess"),
                   "note": "pixels / max_value, then (x - mean) / std per channel; preprocess: how an image file was "
                           "made a square of that size (null: inputs were arrays of that shape)"}
    return {"class_names": json.dumps([str(n) for n in data["class_names"]]), "input": json.dumps(input_facts),
            "dataset": str(data.get("name", "")), "search_space": space.name, "architecture": space.to_str(arch),
            "nascli": __version__}


def _onnx(model: torch.nn.Module, x: torch.Tensor, path: Path, opset: int, metadata: dict[str, str]) -> torch.Tensor:
    try:
        import onnx
        import onnxruntime as ort
    except ImportError:
        raise NasError(ONNX_MISSING) from None
    tmp = path.with_suffix(".tmp.onnx")
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x[:2],), str(tmp), input_names=["input"], output_names=["logits"],
                          opset_version=opset, dynamo=True, dynamic_shapes=({0: batch},),
                          external_data=False, verbose=False)
    proto = onnx.load(str(tmp))
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    write_bytes(path, proto.SerializeToString())
    tmp.unlink()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"input": x.numpy()})[0])


def _require_onnx() -> None:
    """A NasError before anything is written when the ONNX packages are missing (a refused export
    leaves no half of its files behind)."""
    from importlib.util import find_spec

    def missing(name: str) -> bool:
        try:
            return find_spec(name) is None
        except (ImportError, ValueError):  # a package that failed to import, or is blocked, is missing too
            return True

    if any(missing(name) for name in ONNX_PACKAGES):
        raise NasError(ONNX_MISSING)


def run(ctx: RunContext) -> float:
    """Export and check; returns the largest absolute difference from PyTorch's outputs."""
    options = check_app(ctx.cfg, ExportOptions, "export", ())
    if "onnx" in options.formats():
        _require_onnx()
    seed_everything(options.seed)
    atol, rtol = options.atol, options.rtol
    ckpt, path = load_checkpoint(options.checkpoint)
    if _text(ckpt) and options.quantize:
        raise ConfigError("quantize=int8 quantises image networks (calibrated on images); export a text network "
                          "without it.")
    space, arch, model = build_model(ckpt, str(path))
    data = _local_data(ckpt, ctx.paths.data_dir)
    x, batch_text = _check_batch(ckpt, data, options.batch_size)
    with torch.no_grad():
        reference = model(x)
        checks = []
        for fmt in options.formats():
            out_path = ctx.run_dir / ("model.torchscript.pt" if fmt == "torchscript" else "model.onnx")
            outputs = (_torchscript(model, x, out_path) if fmt == "torchscript"
                       else _onnx(model, x, out_path, options.onnx_opset, onnx_metadata(ckpt, space, arch)))
            diff = (outputs - reference).abs().max().item()
            checks.append({"format": fmt, "file": out_path.name, "max_abs_diff": diff,
                           "same_predictions": bool((outputs.argmax(-1) == reference.argmax(-1)).all()),
                           "passed": bool(torch.allclose(outputs, reference, atol=atol, rtol=rtol)),
                           "size_mb": out_path.stat().st_size / 1e6})
    ctx.report.results.update({"checkpoint": str(path), "arch_str": space.to_str(arch), "checked_on": batch_text,
                               "atol": atol, "rtol": rtol, "exports": checks})
    ctx.report.sections.append(("Exports", markdown_table(checks, list(checks[0]))))
    ctx.console.print(table("export (outputs checked against PyTorch)", checks, list(checks[0])))
    int8 = _int8(ctx, options, ckpt, data) if options.quantize == "int8" else None
    write_text(ctx.run_dir / "MODEL_CARD.md", _model_card(ckpt, space, arch, checks, batch_text, int8))
    failed = [c["format"] for c in checks if not c["passed"]]
    if failed:
        raise NasError(f"The {', '.join(failed)} export does not reproduce PyTorch's outputs within atol={atol}, rtol={rtol}; "
                       f"see report.json (files are kept for inspection).")
    floor = options.int8.min_agreement
    if int8 is not None and floor is not None and int8["agreement"] < floor:
        raise NasError(f"The int8 model agrees with fp32 on {100 * int8['agreement']:.1f}% of top-1 predictions, under "
                       f"int8.min_agreement={floor:g}; see report.json (model.int8.onnx is kept). "
                       f"Try int8.method=static with more int8.calibration images, or int8.per_channel=true.")
    return max(c["max_abs_diff"] for c in checks)


# --- int8 ------------------------------------------------------------------------------------------
INT8_COLUMNS = ["model", "file", "size_mb", "latency_ms", "latency_iqr_ms", "test_accuracy", "agreement",
                "logit_rel_rms"]


def _int8(ctx: RunContext, options: ExportOptions, ckpt: dict[str, Any], data: Any) -> dict[str, Any]:
    """Quantise model.onnx to model.int8.onnx, then compare the two: file size, CPU latency (ONNX
    Runtime), test accuracy (or, without the dataset, agreement on random inputs) and logit error."""
    q = options.int8
    fp32_path, int8_path = ctx.run_dir / "model.onnx", ctx.run_dir / "model.int8.onnx"
    calibration, calibrated_on = _calibration(ckpt, data, q.calibration, options.seed)
    _quantize(fp32_path, int8_path, q, calibration)
    x, y, compared_on = _comparison_set(ckpt, data, q.test_samples, options.seed)
    sessions = {name: _session(file, options.latency.threads) for name, file in
                (("fp32", fp32_path), ("int8", int8_path))}
    logits = {name: _run_batches(session, x) for name, session in sessions.items()}
    shape = tuple(x.shape[1:])
    timing = {name: _time_session(session, shape, options.latency) for name, session in sessions.items()}
    fp32, int8 = logits["fp32"], logits["int8"]
    agreement = float((fp32.argmax(1) == int8.argmax(1)).double().mean())
    rel_rms = float((int8 - fp32).pow(2).mean().sqrt() / fp32.pow(2).mean().sqrt().clamp(min=1e-12))
    accuracy = {name: (100.0 * float((out.argmax(1) == y).double().mean()) if y is not None else None)
                for name, out in logits.items()}
    rows = [{"model": name, "file": file.name, "size_mb": file.stat().st_size / 1e6,
             "latency_ms": timing[name].median_ms, "latency_iqr_ms": timing[name].iqr_ms, "test_accuracy": accuracy[name],
             "agreement": 1.0 if name == "fp32" else agreement, "logit_rel_rms": 0.0 if name == "fp32" else rel_rms}
            for name, file in (("fp32", fp32_path), ("int8", int8_path))]
    result = {
        "method": q.method, "per_channel": q.per_channel, "reduce_range": q.reduce_range, "file": int8_path.name,
        "calibrated_on": calibrated_on, "compared_on": compared_on,
        "size_mb": rows[1]["size_mb"], "fp32_size_mb": rows[0]["size_mb"],
        "size_ratio": rows[1]["size_mb"] / rows[0]["size_mb"], "latency_ms": rows[1]["latency_ms"],
        "fp32_latency_ms": rows[0]["latency_ms"], "speedup": rows[0]["latency_ms"] / rows[1]["latency_ms"],
        "latency": {"batch_size": options.latency.batch_size, "warmup": options.latency.warmup,
                    "repeats": options.latency.repeats, "threads": options.latency.threads,
                    "runtime": "onnxruntime CPUExecutionProvider", "statistic": "median (IQR in latency_iqr_ms)"},
        "test_accuracy": accuracy["int8"], "fp32_test_accuracy": accuracy["fp32"],
        "accuracy_change": (accuracy["int8"] - accuracy["fp32"]) if y is not None else None,
        "agreement": agreement, "logit_rel_rms": rel_rms, "models": rows,
    }
    ctx.report.results["int8"] = result
    ctx.report.sections.append(("int8 against fp32 (ONNX Runtime, CPU)", markdown_table(rows, INT8_COLUMNS)
                                + f"\n\nCompared on {compared_on}; {q.method} quantisation, {calibrated_on}."))
    ctx.console.print(table(f"int8 ({q.method}) against fp32 on {compared_on}", rows,
                            [c for c in INT8_COLUMNS if c != "file"]))
    ctx.console.print(_int8_summary(result), highlight=False)
    return result


def _int8_summary(int8: dict[str, Any]) -> str:
    """One line: what int8 changed against fp32."""
    change = int8["accuracy_change"]
    accuracy = f"test accuracy {change:+.2f} points" if change is not None else "no test accuracy (no dataset here)"
    return (f"int8: {int8['size_ratio']:.2f}x the size, {int8['speedup']:.2f}x the speed (median at batch "
            f"{int8['latency']['batch_size']}), {accuracy}, top-1 agreement {100 * int8['agreement']:.1f}%")


def _calibration(ckpt: dict[str, Any], data: Any, count: int, seed: int) -> tuple[torch.Tensor, str]:
    """Images whose activation ranges set the static scales: a seeded sample of the training split
    (never the test split the int8 model is then scored on), or random inputs without the dataset."""
    if data is None or not len(data.train):
        return _random_inputs(ckpt, count, seed + 1), f"calibrated on {count} random inputs (no dataset here)"
    pick = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed))[:count]
    x, _ = next(iter(BatchLoader(data.train.subset(pick), data, len(pick))))
    return x, f"calibrated on {len(pick)} training images"


def _comparison_set(ckpt: dict[str, Any], data: Any, limit: int | None,
                    seed: int) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """What fp32 and int8 are scored on: the test split (its first `limit` images), or random inputs."""
    if data is None:
        count = limit or 256
        text = f"{count} random inputs (the dataset is not on this machine)"
        return _random_inputs(ckpt, count, seed + 2), None, text
    split = data.test if limit is None else data.test.subset(torch.arange(min(limit, len(data.test))))
    x, y = next(iter(BatchLoader(split, data, len(split))))
    return x, y, f"{len(y)} test images of {data.name}"


def _quantize(source: Path, target: Path, q: Int8, calibration: torch.Tensor) -> None:
    """ONNX Runtime's quantiser on `source`, written atomically to `target`. Static: QDQ nodes with
    int8 weights and uint8 activations (what ONNX Runtime's x86 kernels are fast for; int8
    activations ran 4x slower than fp32 here), the activations' scales from `calibration`
    (min-max). Dynamic: uint8 weights (ConvInteger), activation scales computed at every run."""
    try:
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError:
        raise NasError(ONNX_MISSING) from None
    prepared = target.with_suffix(".prep.tmp.onnx")
    tmp = target.with_suffix(".tmp.onnx")
    root = logging.getLogger()
    level = root.level
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            root.setLevel(logging.ERROR)  # the quantiser logs advice through the root logger
            # fold BatchNorm into the convolutions first, so that the quantiser sees what runs
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            if q.method == "static":
                quantize_static(str(prepared), str(tmp), _Calibration(calibration), quant_format=QuantFormat.QDQ,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                per_channel=q.per_channel, reduce_range=q.reduce_range)
            else:
                quantize_dynamic(str(prepared), str(tmp), weight_type=QuantType.QUInt8, per_channel=q.per_channel,
                                 reduce_range=q.reduce_range)
        write_bytes(target, tmp.read_bytes())
    finally:
        root.setLevel(level)
        prepared.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


class _Calibration:
    """ONNX Runtime's calibration reader protocol over a tensor of images, in batches of 32."""

    def __init__(self, x: torch.Tensor) -> None:
        self.batches: Iterator[torch.Tensor] = iter(x.split(32))

    def get_next(self) -> dict[str, Any] | None:
        batch = next(self.batches, None)
        return None if batch is None else {"input": batch.numpy()}


def _session(path: Path, threads: int | None) -> Any:
    import onnxruntime as ort

    settings = ort.SessionOptions()
    if threads is not None:
        settings.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), settings, providers=["CPUExecutionProvider"])


def _run_batches(session: Any, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The session's logits for `x`, in batches."""
    return torch.cat([torch.from_numpy(session.run(None, {"input": part.numpy()})[0]) for part in x.split(batch_size)])


def _time_session(session: Any, shape: tuple[int, ...], settings: OnnxLatency) -> Timing:
    """Median and inter-quartile range (ms) of timed runs after a warm-up, cycling through 16
    different random inputs as nas evaluate does (a repeated input flatters the CPU's caches)."""
    gen = torch.Generator().manual_seed(0)
    xs = [torch.randn((settings.batch_size, *shape), generator=gen).numpy() for _ in range(16)]
    for i in range(settings.warmup):
        session.run(None, {"input": xs[i % len(xs)]})
    times = []
    for i in range(settings.repeats):
        start = time.perf_counter()
        session.run(None, {"input": xs[i % len(xs)]})
        times.append((time.perf_counter() - start) * 1e3)
    return Timing.of(times)


def _model_card(ckpt: dict[str, Any], space: Any, arch: Any, checks: list[dict[str, Any]], batch_text: str,
                int8: dict[str, Any] | None) -> str:
    data, metrics = ckpt["data"], ckpt.get("metrics", {})
    if _text(ckpt):
        return _text_card(ckpt, space, arch, checks, batch_text)
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
        _files_line(data.get("preprocess")),
        "Output: logits (N, classes); classes in order: " + ", ".join(map(str, data["class_names"])) + ".",
        "`model.onnx` carries the class names and these input facts as metadata (`class_names`, `input`: JSON).",
        "`nas predict checkpoint=<this checkpoint> input=<image, folder or .npz>` makes inputs this way and writes "
        "predictions.csv (`format=onnx onnx=<this run>` runs the ONNX file).",
        "", "## Files", "", markdown_table(checks, list(checks[0])), "",
        f"Each file was reloaded and run on {batch_text}; `passed` means its outputs match PyTorch's.",
        *(_int8_card(int8) if int8 else []),
        "", "## Limits", "",
        "Accuracy was measured on the dataset's test split only; re-check on your own data before deployment.",
    ]
    return "\n".join(lines) + "\n"


def _files_line(preprocess: dict[str, Any] | None) -> str:
    """How an image file became such an input in training (a checkpoint of data read from files), else
    that the training data were arrays already of the network's shape."""
    if not preprocess:
        return "The training images were arrays of this shape (no file decoding or resizing)."
    if preprocess.get("kind") == "table":  # nascli.data.tables' record
        return (f"Rows of a table (label column {preprocess.get('label')!r}) encoded with its training split's statistics: "
                f"numeric columns standardised (a missing value: the mean and a 0/1 indicator), categorical ones one-hot or "
                f"as codes the network embeds (0: <unknown>); `nas predict input=<table.csv>` encodes new rows so.")
    if preprocess.get("kind") == "audio":  # nascli.data.audio_features.AudioFeatures.record()
        return (f"Sound files were mixed to mono, resampled to {preprocess.get('sample_rate')} Hz, cut or padded to "
                f"{preprocess.get('duration')} s, and made a log-mel spectrogram in dB ({preprocess.get('n_mels')} HTK mel "
                f"bands of {preprocess.get('f_min')}-{preprocess.get('f_max')} Hz, n_fft {preprocess.get('n_fft')}, hop "
                f"{preprocess.get('hop')}, {preprocess.get('n_mels')} frames), torchaudio's MelSpectrogram and "
                f"AmplitudeToDB conventions.")
    how = {"crop": "the shorter side scaled to {n} px and the centre square kept",
           "stretch": "each side scaled to {n} px", "pad": "the longer side scaled to {n} px and the rest padded with black"}
    resize = how.get(str(preprocess.get("resize")), "resized to {n} px").format(n=preprocess.get("image_size"))
    mode = "grey (one channel)" if preprocess.get("channels") == 1 else "RGB"
    return (f"Image files were decoded, converted to {mode} (transparency onto white), and {resize} "
            f"(bilinear), giving pixel values 0..255.")


def _int8_card(int8: dict[str, Any]) -> list[str]:
    """The model card's int8 section: the two ONNX models side by side, and what changed."""
    change = int8["accuracy_change"]
    accuracy = (f"test accuracy {int8['test_accuracy']:.2f}% against {int8['fp32_test_accuracy']:.2f}% "
                f"({change:+.2f} points)" if change is not None else "no test accuracy (the dataset was not here)")
    return [
        "", "## int8", "",
        f"`{int8['file']}`: ONNX Runtime {int8['method']} int8 quantisation of `model.onnx` "
        f"({'per-channel' if int8['per_channel'] else 'per-tensor'} weight scales; {int8['calibrated_on']}).",
        "", markdown_table(int8["models"], INT8_COLUMNS), "",
        f"{int8['size_ratio']:.2f}x the size and {int8['speedup']:.2f}x the speed of fp32 (median latency at batch "
        f"{int8['latency']['batch_size']} on this machine's CPU); {accuracy}; top-1 predictions agree on "
        f"{100 * int8['agreement']:.1f}% of {int8['compared_on']}.",
    ]


def _text_card(ckpt: dict[str, Any], space: Any, arch: Any, checks: list[dict[str, Any]], batch_text: str) -> str:
    """The model card of a recurrent text network: its task, its fixed sequence length and vocabulary."""
    data, metrics = ckpt["data"], ckpt.get("metrics", {})
    lm = data["task"] == "lm"
    score = (f"test perplexity {metrics.get('test_perplexity', float('nan')):.2f} (lower is better)" if lm
             else f"test accuracy {metrics.get('test_accuracy', float('nan')):.2f}%")
    output = ("logits (N, L, vocabulary): the next token's scores at every position" if lm else
              "logits (N, classes); classes in order: " + ", ".join(map(str, data["class_names"])))
    lines = [
        "# Model card", "",
        f"- architecture ({space.name} space): `{space.to_str(arch)}`",
        f"- trained on: {data['name']} ({'language model' if lm else 'text classification'}, {data['train']} training "
        f"{data.get('unit', 'examples')}, {data['vocab_size']} {data['tokens']} tokens), {ckpt.get('epoch', '?')} epochs "
        f"with nascli {ckpt.get('nascli', '?')}",
        f"- {score}; params {metrics.get('params_m', float('nan')):.4f} M; FLOPs (MACs) per sequence "
        f"{metrics.get('flops_m', float('nan')):.3f} M",
        "", "## Input", "",
        f"int64 token ids (N, {data['seq_len']}): a **fixed sequence length of {data['seq_len']} tokens** in the ONNX "
        "and TorchScript files (the recurrent cell is unrolled over it; PyTorch's network takes any length). Ids index "
        "the training vocabulary (rebuilt from the corpus by the checkpoint's dataset config), " + ("`<unk>` = 0, `<eos>` = 1 ends every line; "
        "the hidden state starts at zero for every sequence." if lm else "`<pad>` = 0 fills a shorter text, `<unk>` = 1."),
        f"Output: {output}.",
        "`model.onnx` carries the class names and these input facts as metadata (`class_names`, `input`: JSON).",
        "", "## Files", "", markdown_table(checks, list(checks[0])), "",
        f"Each file was reloaded and run on {batch_text}; `passed` means its outputs match PyTorch's.",
        "", "## Limits", "",
        "Scores were measured on the dataset's test split only; re-check on your own text before deployment.",
    ]
    return "\n".join(lines) + "\n"
