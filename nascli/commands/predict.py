"""nas predict: a trained network on new inputs (an image, a folder of images, a WAV file or a folder of
them for a network trained on sound, arrays in a .npz/.npy)
with the preprocessing it was trained with, written batch by batch to predictions.csv (class names,
probability, the top k), with accuracy where the inputs carry labels. format=onnx runs the exported
model through ONNX Runtime instead, checked against PyTorch on the first batch."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from nascli.checkpoint import build_model, load_checkpoint
from nascli.data.tables import SUFFIXES as TABLE_SUFFIX_KINDS
from nascli.data.tables import TablePreprocess, is_table_record, read_table
from nascli.errors import CheckpointError, ConfigError, DatasetError, NasError
from nascli.runtime.common import resolve_device
from nascli.runtime.config import check_app
from nascli.runtime.console import progress, table
from nascli.runtime.context import RunContext
from nascli.runtime.files import write_streamed
from nascli.runtime.run_report import markdown_table
from nascli.training.metrics import logits_of

FORMATS = ("torch", "onnx")
LAYOUTS = ("auto", "nhw", "nhwc", "nchw")
ARRAY_SUFFIXES = (".npz", ".npy")
TABLE_SUFFIXES = tuple(TABLE_SUFFIX_KINDS)  # .csv .tsv .parquet .pq: rows for a network trained on a table
SHOWN_SKIPPED = 5  # unreadable inputs named on the console (report.json lists them all)


@dataclass
class ArrayKeys:
    """How a .npz / .npy input is read: the keys of images and labels, and the images' layout."""

    x: str
    y: str
    layout: str  # auto | nhw | nhwc | nchw (read in any case)


@dataclass
class PredictOptions:
    """The top-level options of conf/predict.yaml."""

    checkpoint: str     # a retrain run directory or its model.pt
    input: str          # an image file, a folder of images, a WAV file or folder (sound), or a .npz / .npy of arrays
    format: str         # torch | onnx
    onnx: str | None    # format=onnx: an export run directory or its model.onnx
    device: str
    batch_size: int
    top_k: int
    workers: int        # threads decoding the images of a batch
    atol: float         # format=onnx: allowed difference of its logits from PyTorch's
    rtol: float
    arrays: ArrayKeys

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"format must be torch or onnx, got {self.format!r}.")
        if min(self.batch_size, self.top_k, self.workers) < 1 or self.atol < 0 or self.rtol < 0:
            raise ConfigError("batch_size, top_k and workers must be at least 1, atol and rtol at least 0.")
        self.arrays.layout = str(self.arrays.layout).lower()  # NHWC as dataset=arrays spells it, or nhwc
        if self.arrays.layout not in LAYOUTS:
            raise ConfigError(f"arrays.layout must be one of {', '.join(LAYOUTS)}, got {self.arrays.layout!r}.")
        if self.format == "onnx" and not self.onnx:
            raise ConfigError("format=onnx runs an exported model: give onnx=<export run directory or its model.onnx> "
                              "(nas export checkpoint=<retrain run> format=onnx writes one).")


# --- what the network expects of an input -----------------------------------------------------------
@dataclass(frozen=True)
class InputFacts:
    """What a checkpoint says its network takes: shape, value range and normalisation, class names, and
    (for data read from image files) how a file became an input."""

    dataset: str
    class_names: list[str]
    channels: int
    size: int
    max_value: float
    mean: list[float]
    std: list[float]
    preprocess: dict[str, Any] | None  # nascli.data.images.Preprocess.record(); None: not read from files

    @classmethod
    def of(cls, ckpt: dict[str, Any], where: Path) -> InputFacts:
        """The facts of a loaded checkpoint, or a CheckpointError naming what is missing."""
        data = ckpt["data"]
        channels, classes = data["in_channels"], data["num_classes"]
        problems = [key for key in ("max_value", "mean", "std", "class_names") if key not in data]
        if not problems:
            if not isinstance(data["max_value"], (int, float)) or not data["max_value"] > 0:
                problems.append("max_value")
            for key in ("mean", "std"):
                values = data[key]
                if not isinstance(values, list) or len(values) != channels or not all(
                        isinstance(v, (int, float)) for v in values) or (key == "std" and min(values) <= 0):
                    problems.append(key)
            if not isinstance(data["class_names"], list) or len(data["class_names"]) != classes:
                problems.append("class_names")
        if problems:
            raise CheckpointError(f"{where} holds no usable preprocessing facts ({', '.join(problems)} of its data "
                                  f"missing or malformed), so new inputs cannot be prepared as its training data were. "
                                  f"Retrain the network with this nascli (nas retrain) and predict with that run.")
        return cls(str(data.get("name", "?")), [str(n) for n in data["class_names"]], channels, data["input_size"],
                   float(data["max_value"]), [float(v) for v in data["mean"]], [float(v) for v in data["std"]],
                   data.get("preprocess"))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Network inputs from raw pixel values, as nascli.data.loader.BatchLoader makes them for evaluation."""
        scale = 1.0 / self.max_value
        # plain (N, C, H, W) strides: an (N, H, W, 1) array transposed has channels-last ones, which send a
        # one-channel batch down another convolution kernel (logits 2e-7 apart)
        x = torch.empty(x.shape, dtype=torch.float32, device=x.device).copy_(x)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x.mul_(scale) - mean) / std


# --- inputs ----------------------------------------------------------------------------------------
# what reading a batch gives: (pixels of the readable inputs, their indices, (index, why) of the unreadable)
Read = tuple[torch.Tensor | None, list[int], list[tuple[int, str]]]


@dataclass
class Inputs:
    """New inputs in a fixed order: their names (predictions.csv's `input`), labels where known
    (class indices of the checkpoint), and how to read the pixels of some of them."""

    kind: str                                   # "images", "sounds", "arrays" or "table"
    source: Path
    names: list[str]
    labels: list[int] | None
    read: Callable[[list[int]], Read]
    note: str | None = None                     # why a folder gives no labels, where it nearly does

    def __len__(self) -> int:
        return len(self.names)


def open_inputs(ref: str, facts: InputFacts, options: PredictOptions, pool: ThreadPoolExecutor) -> Inputs:
    """The inputs `input=` names: an image file, a folder of images, or arrays; a DatasetError (exit 2)
    naming the path for anything else."""
    path = Path(ref).expanduser()
    if not _exists(path):
        raise DatasetError(f"input={ref}: no such file or folder. Give an image file, a folder of images, or a "
                           f".npz/.npy of arrays.")
    suffix = path.suffix.lower()
    if path.is_file() and suffix in ARRAY_SUFFIXES:
        return _arrays(path, facts, options.arrays)
    if is_table_record(facts.preprocess) or suffix in TABLE_SUFFIXES:
        return _table(path, facts, options.checkpoint)
    if isinstance(facts.preprocess, dict) and facts.preprocess.get("kind") == "audio":
        return _sound_inputs(ref, path, facts, options.checkpoint, pool)
    from nascli.data.images import IMAGE_SUFFIXES

    if path.is_file() and suffix not in IMAGE_SUFFIXES:
        raise DatasetError(f"input={ref}: {suffix or 'a file without a suffix'} is neither an image "
                           f"({' '.join(IMAGE_SUFFIXES)}) nor arrays (.npz, .npy).")
    preprocess = _image_preprocess(facts, options.checkpoint)
    if path.is_file():
        return Inputs("images", path, [path.name], None, _image_reader([path], preprocess, pool))
    files, labels, note = _scan_folder(path, facts.class_names, IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"input={ref}: the folder holds no images ({' '.join(IMAGE_SUFFIXES)}), in it or in "
                           f"its subfolders.")
    names = [file.relative_to(path).as_posix() for file in files]
    return Inputs("images", path, names, labels, _image_reader(files, preprocess, pool), note)


def _sound_inputs(ref: str, path: Path, facts: InputFacts, checkpoint: str, pool: ThreadPoolExecutor) -> Inputs:
    """A sound file or a folder of them, made into log-mel inputs with the checkpoint's audio feature settings."""
    from nascli.data.audio import AUDIO_SUFFIXES
    from nascli.data.audio_features import AudioFeatures

    try:
        features = AudioFeatures.from_record(facts.preprocess or {})
    except ValueError as exc:
        raise CheckpointError(f"checkpoint={checkpoint}: its audio feature record is malformed ({exc}).") from None
    if (features.size, 1) != (facts.size, facts.channels):
        raise CheckpointError(f"checkpoint={checkpoint}: its audio features ({features.size} mel bands) disagree with its "
                              f"network's input ({facts.channels} x {facts.size} x {facts.size}); the file is damaged.")
    if path.is_file():
        if path.suffix.lower() not in AUDIO_SUFFIXES:
            raise DatasetError(f"input={ref}: the network was trained on sound ({facts.dataset}); give a "
                               f"{' '.join(AUDIO_SUFFIXES)} file, a folder of them, or a .npz of its features.")
        return Inputs("sounds", path, [path.name], None, _sound_reader([path], features, pool))
    files, labels, note = _scan_folder(path, facts.class_names, AUDIO_SUFFIXES)
    if not files:
        raise DatasetError(f"input={ref}: the folder holds no sound files ({' '.join(AUDIO_SUFFIXES)}), in it or in "
                           f"its subfolders.")
    names = [file.relative_to(path).as_posix() for file in files]
    return Inputs("sounds", path, names, labels, _sound_reader(files, features, pool), note)


def _sound_reader(files: list[Path], features: Any, pool: ThreadPoolExecutor) -> Callable[[list[int]], Read]:
    """Reads files[i] for a batch of indices on `pool`'s threads, then their log-mel features as training
    computed them; an unusable file is skipped with its reason."""
    from nascli.data.audio import BadAudio, read_clip
    from nascli.data.audio_features import log_mel

    def one(i: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            return i, read_clip(files[i], features.sample_rate, features.samples), None
        except BadAudio as exc:
            return i, None, str(exc)

    def read(indices: list[int]) -> Read:
        done = list(pool.map(one, indices))
        good = [(i, clip) for i, clip, _ in done if clip is not None]
        bad = [(i, why) for i, clip, why in done if clip is None]
        if not good:
            return None, [], bad
        return log_mel(torch.stack([clip for _, clip in good]), features), [i for i, _ in good], bad

    return read


def _table(path: Path, facts: InputFacts, checkpoint: str) -> Inputs:
    """New rows of a CSV or Parquet table, encoded as the network's training rows were (the
    checkpoint's table record: its training split's statistics, levels and <unknown>)."""
    if not is_table_record(facts.preprocess):
        raise CheckpointError(f"input={path} is a table, but checkpoint={checkpoint} was trained on {facts.dataset}, "
                              f"which is not: give it images or arrays of its input.")
    if not path.is_file() or path.suffix.lower() not in TABLE_SUFFIXES:
        raise DatasetError(f"input={path}: checkpoint={checkpoint} reads table rows; give a table "
                           f"({' '.join(TABLE_SUFFIXES)}) with the columns it was trained with.")
    try:
        pre = TablePreprocess.from_record(facts.preprocess)
    except ValueError as exc:
        raise CheckpointError(f"checkpoint={checkpoint}: its table record is malformed ({exc}).") from None
    if pre.width != facts.channels:
        raise CheckpointError(f"checkpoint={checkpoint}: its table record gives {pre.width} features, its network "
                              f"takes {facts.channels}; the file is damaged.")
    frame = read_table(path).rename(columns=str)
    where = f"input={path}"
    pre.check_columns(frame, where)
    rows = torch.from_numpy(pre.transform(frame, where)).reshape(len(frame), pre.width, 1, 1)
    labels = pre.labels(frame, where)

    def read(indices: list[int]) -> Read:
        return rows[indices[0]:indices[-1] + 1], indices, []

    return Inputs("table", path, [f"{path.name}[{i}]" for i in range(len(frame))],
                  labels.tolist() if labels is not None else None, read)


def _exists(path: Path) -> bool:
    """Whether `path` exists; False for a name the system refuses (too long, say) rather than an OSError."""
    try:
        return path.exists()
    except (OSError, ValueError):  # ENAMETOOLONG, EACCES on a parent; ValueError: a NUL in the name
        return False


def _image_preprocess(facts: InputFacts, checkpoint: str) -> Any:
    """How image files become this network's inputs, as its training images did (the checkpoint's
    `preprocess`), or a CheckpointError where the checkpoint does not say."""
    from nascli.data.images import Preprocess

    if facts.preprocess is None:
        raise CheckpointError(
            f"checkpoint={checkpoint} was trained on {facts.dataset}, whose images were not read from files, so it "
            f"holds no facts of how a file becomes its input (size, resize mode, channels). Give the inputs as arrays "
            f"of its shape, ({facts.channels}, {facts.size}, {facts.size}) per image with values up to "
            f"{facts.max_value:g}, in a .npz (input=<file>.npz), or predict with a network trained on dataset=folder.")
    try:
        pre = Preprocess.from_record(facts.preprocess)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint={checkpoint}: its preprocessing record is malformed ({exc}).") from None
    if (pre.image_size, pre.channels) != (facts.size, facts.channels):
        raise CheckpointError(f"checkpoint={checkpoint}: its preprocessing ({pre.channels} channels, "
                              f"{pre.image_size} px) disagrees with its network's input ({facts.channels} channels, "
                              f"{facts.size} px); the file is damaged.")
    return pre


def _scan_folder(root: Path, class_names: list[str],
                 suffixes: tuple[str, ...]) -> tuple[list[Path], list[int] | None, str | None]:
    """The image files under `root` in a fixed order. When `root` holds class folders named as the
    checkpoint's classes (and no images of its own), each file's label is its folder's class."""

    def images(folder: Path) -> list[Path]:
        found = []
        for here, dirs, files in os.walk(folder):  # symlinked folders are not followed: no loops
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found.extend(Path(here) / f for f in sorted(files)
                         if not f.startswith(".") and Path(f).suffix.lower() in suffixes)
        return found

    top = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    folders = [p for p in top if p.is_dir() and images(p)]
    loose = [p for p in top if p.is_file() and p.suffix.lower() in suffixes]
    known = {name: i for i, name in enumerate(class_names)}
    unknown = [p.name for p in folders if p.name not in known]
    if folders and not unknown and not loose:
        files, labels = [], []
        for folder in folders:
            found = images(folder)
            files.extend(found)
            labels.extend([known[folder.name]] * len(found))
        return files, labels, None
    note = None
    if folders and len(unknown) < len(folders):
        note = (f"no labels: {', '.join(unknown[:5]) or 'images at the top level'} "
                f"{'are' if len(unknown) > 1 else 'is'} not among the checkpoint's classes"
                if unknown else "no labels: the folder holds images beside its class folders")
    return images(root), None, note


def _image_reader(files: list[Path], pre: Any, pool: ThreadPoolExecutor) -> Callable[[list[int]], Read]:
    """Decodes files[i] for a batch of indices on `pool`'s threads; an unusable file is skipped with its reason."""
    from nascli.data.images import BadImage, decode

    def one(i: int) -> tuple[int, np.ndarray | None, str | None]:
        try:
            return i, decode(files[i], pre), None
        except BadImage as exc:
            return i, None, str(exc)
        except OSError as exc:  # gone or unreadable since the folder was listed
            return i, None, f"cannot be read: {exc.strerror or exc}"

    def read(indices: list[int]) -> Read:
        done = list(pool.map(one, indices))
        good = [(i, pixels) for i, pixels, _ in done if pixels is not None]
        bad = [(i, why) for i, pixels, why in done if pixels is None]
        if not good:
            return None, [], bad
        return torch.from_numpy(np.stack([pixels for _, pixels in good])), [i for i, _ in good], bad

    return read


def _arrays(path: Path, facts: InputFacts, keys: ArrayKeys) -> Inputs:
    """Images (and labels, where the file has them) from a .npz, or images from a .npy; read once,
    checked against the network's input."""
    import zipfile

    try:
        if path.suffix.lower() == ".npy":
            x, y = np.load(path, allow_pickle=False, mmap_mode="r"), None
        else:
            with np.load(path, allow_pickle=False) as archive:
                if keys.x not in archive.files:
                    held = ", ".join(archive.files) or "none"
                    raise DatasetError(f"input={path} has no array {keys.x!r}; it holds {held}. "
                                       f"Name the images' key with arrays.x=<key>.")
                x = archive[keys.x]
                y = archive[keys.y] if keys.y in archive.files else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"input={path} cannot be read as {path.suffix.lower()} arrays ({exc}).") from None
    x = _to_nchw(x, keys.layout, facts, path)
    labels = _labels(y, len(x), facts, path, keys.y) if y is not None else None
    stem = path.name

    def read(indices: list[int]) -> Read:
        return torch.from_numpy(np.array(x[indices[0]:indices[-1] + 1])), indices, []  # a copy: .npy is mapped read-only

    return Inputs("arrays", path, [f"{stem}[{i}]" for i in range(len(x))], labels, read)


def _to_nchw(x: np.ndarray, layout: str, facts: InputFacts, where: Path) -> np.ndarray:
    """`x` as (N, C, H, W) of the network's channels and size, or a DatasetError saying what differs."""
    channels, size = facts.channels, facts.size
    if x.dtype.kind not in "biuf":
        raise DatasetError(f"input={where}: the images are {x.dtype} values; give numbers (integers, or floats).")
    if layout == "auto":
        if x.ndim == 3:
            layout = "nhw"
        elif x.ndim == 4:
            fits_nchw = x.shape[1] == channels and tuple(x.shape[2:]) == (size, size)
            fits_nhwc = x.shape[3] == channels and tuple(x.shape[1:3]) == (size, size)
            layout = ("nchw" if fits_nchw else "nhwc" if fits_nhwc
                      else "nhwc" if x.shape[3] in (1, 3, 4) and x.shape[1] not in (1, 3, 4) else "nchw")
    if x.ndim != (3 if layout == "nhw" else 4):
        raise DatasetError(f"input={where}: the images have shape {tuple(x.shape)}; expected (N, H, W), "
                           f"(N, H, W, C) or (N, C, H, W) (arrays.layout={layout}).")
    x = x[:, None] if layout == "nhw" else x.transpose(0, 3, 1, 2) if layout == "nhwc" else x
    if x.shape[1] != channels:
        hint = (" (convert them to grey first)" if channels == 1
                else " (grey images: repeat the channel)" if x.shape[1] == 1 else "")
        raise DatasetError(f"input={where}: the images have {x.shape[1]} channel(s) (read as {layout} from shape "
                           f"{tuple(_shape_of(x, layout))}), but the network (trained on {facts.dataset}) takes "
                           f"{channels}{hint}. "
                           f"Give images of {channels} channel(s), or set arrays.layout if the layout was misread.")
    if tuple(x.shape[2:]) != (size, size):
        resize = facts.preprocess.get("resize") if isinstance(facts.preprocess, dict) else None
        how = f", as its training images were ({resize})" if resize else ""
        raise DatasetError(f"input={where}: the images are {x.shape[2]}x{x.shape[3]} pixels, but the network takes "
                           f"{size}x{size} (trained on {facts.dataset}): resize them to {size}x{size}{how} first.")
    if x.dtype.kind == "f":
        bad = int((~np.isfinite(x)).sum())
        if bad:
            raise DatasetError(f"input={where}: {bad} pixel value(s) are NaN or infinite; fix or drop those images.")
    return x


def _shape_of(x: np.ndarray, layout: str) -> tuple[int, ...]:
    """The shape `x` (now N, C, H, W) had in the file."""
    return tuple(x.shape[i] for i in ((0, 2, 3) if layout == "nhw" else (0, 2, 3, 1) if layout == "nhwc" else (0, 1, 2, 3)))


def _labels(y: np.ndarray, count: int, facts: InputFacts, where: Path, key: str) -> list[int]:
    """Labels as class indices of the checkpoint: integers in range, or class names."""
    y = np.asarray(y).reshape(-1)
    if len(y) != count:
        raise DatasetError(f"input={where}: {len(y)} labels ({key}) for {count} images; give one label per image.")
    if y.dtype.kind in "US":
        known = {name: i for i, name in enumerate(facts.class_names)}
        strange = sorted({str(v) for v in y} - set(known))
        if strange:
            raise DatasetError(f"input={where}: labels {', '.join(strange[:5])} are not classes of the checkpoint "
                               f"({', '.join(facts.class_names[:10])}).")
        return [known[str(v)] for v in y]
    if y.dtype.kind not in "biu" and not (y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y))):
        raise DatasetError(f"input={where}: the labels ({key}) are {y.dtype} values; give integer class indices.")
    labels = y.astype(np.int64)
    out = labels[(labels < 0) | (labels >= len(facts.class_names))]
    if len(out):
        raise DatasetError(f"input={where}: label {int(out[0])} is out of range: the checkpoint has "
                           f"{len(facts.class_names)} classes (0..{len(facts.class_names) - 1}).")
    return labels.tolist()


# --- the network, in PyTorch or ONNX Runtime ------------------------------------------------------------
def _torch_forward(model: torch.nn.Module, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    model.to(device).eval()

    @torch.no_grad()
    def forward(x: torch.Tensor) -> torch.Tensor:
        return logits_of(model(x.to(device, non_blocking=True))).float().cpu()

    return forward


def _onnx_forward(ref: str, facts: InputFacts,
                  device: torch.device) -> tuple[Callable[[torch.Tensor], torch.Tensor], dict[str, Any]]:
    """An ONNX Runtime session of the exported model `ref` names, checked to take this checkpoint's inputs and
    classes; and what ran it."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise NasError("format=onnx runs the model with ONNX Runtime, which is not installed here: "
                       "pip install 'nascli[onnx]' (or predict with format=torch).") from None
    path = Path(ref).expanduser()
    path = path / "model.onnx" if _exists(path) and path.is_dir() else path
    if not (_exists(path) and path.is_file()):
        raise CheckpointError(f"onnx={ref}: no model.onnx there. Write one with nas export checkpoint=<retrain run> "
                              f"format=onnx and give its run directory.")
    available = ort.get_available_providers()
    providers = (["CUDAExecutionProvider"] if device.type == "cuda" and "CUDAExecutionProvider" in available else [])
    try:
        session = ort.InferenceSession(str(path), providers=[*providers, "CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime's own errors (InvalidProtobuf, Fail, ...)
        raise CheckpointError(f"onnx={ref}: {path} is not a model ONNX Runtime can load ({str(exc)[:200]}).") from None
    taken = session.get_inputs()[0]
    if list(taken.shape[1:]) != [facts.channels, facts.size, facts.size]:
        raise CheckpointError(f"onnx={ref}: {path} takes inputs of shape {taken.shape}, not the checkpoint's "
                              f"(N, {facts.channels}, {facts.size}, {facts.size}): it was exported from another network.")
    meta = session.get_modelmeta().custom_metadata_map
    names = _json_or_none(meta.get("class_names"))
    if names is not None and names != facts.class_names:
        raise CheckpointError(f"onnx={ref}: {path} was exported with other classes than the checkpoint's; export "
                              f"this checkpoint (nas export checkpoint=... format=onnx).")

    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {taken.name: x.cpu().numpy()})[0]).float()

    return forward, {"onnx": str(path), "providers": session.get_providers()}


def _json_or_none(text: str | None) -> Any:
    """A metadata value nas export wrote as JSON (None when absent or not JSON: a model exported elsewhere)."""
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return None


# --- the story -------------------------------------------------------------------------------------
@dataclass
class Tally:
    """What the predictions add up to as they are written."""

    counts: list[int]                      # inputs predicted as each class
    predicted: int = 0
    labelled: int = 0
    correct: int = 0
    correct_top_k: int = 0
    onnx_max_abs_diff: float | None = None  # format=onnx: on the first batch, against PyTorch
    skipped: list[dict[str, str]] = field(default_factory=list)  # unreadable inputs and why


def run(ctx: RunContext) -> float | None:
    """Predict; returns the accuracy (%) where the inputs carry labels, else None."""
    options = check_app(ctx.cfg, PredictOptions, "predict", ())
    ckpt, path = load_checkpoint(options.checkpoint)
    if "task" in (ckpt.get("data") or {}):  # a recurrent text network (dataset=text_lm, text_classification)
        raise CheckpointError(f"{path} is a text network ({ckpt['data']['task']}): nas predict reads images and arrays. "
                              "Score it on its corpus's test split with nas evaluate checkpoint=<this run>, or run "
                              "its export (nas export format=onnx) on token ids.")
    facts = InputFacts.of(ckpt, path)
    _, _, model = build_model(ckpt, str(path))
    device = resolve_device(options.device)
    with ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="decode") as pool:
        inputs = open_inputs(options.input, facts, options, pool)
        if inputs.note:
            ctx.console.print(f"[yellow]{options.input}: {inputs.note}.[/yellow]", soft_wrap=True)
        ran = {"device": str(device)}
        if options.format == "onnx":
            forward, ran = _onnx_forward(options.onnx or "", facts, device)
            reference: Callable[[torch.Tensor], torch.Tensor] | None = _torch_forward(model, torch.device("cpu"))
        else:
            forward, reference = _torch_forward(model, device), None
        k = min(options.top_k, len(facts.class_names))
        labelled = inputs.labels is not None
        columns = ["input", *(["label", "correct"] if labelled else []), "predicted", "probability",
                   *[f"top{r}{suffix}" for r in range(2, k + 1) for suffix in ("", "_probability")]]
        tally = Tally([0] * len(facts.class_names))
        started = time.perf_counter()
        write_streamed(ctx.run_dir / "predictions.csv", lambda handle: _predict_into(
            handle, ctx, options, facts, inputs, forward, reference, k, columns, tally))
        seconds = time.perf_counter() - started
    return _summarise(ctx, options, path, facts, inputs, tally, k, seconds, ran)


def _predict_into(handle: IO[bytes], ctx: RunContext, options: PredictOptions, facts: InputFacts, inputs: Inputs,
                  forward: Callable[[torch.Tensor], torch.Tensor], reference: Callable[[torch.Tensor], torch.Tensor] | None,
                  k: int, columns: list[str], tally: Tally) -> None:
    """Every batch of inputs through the network, each row of predictions.csv written as its batch ends;
    the next batch is read (decoded) while the network runs this one."""
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()

    def batch(first: int) -> list[int]:
        return list(range(first, min(first + options.batch_size, len(inputs))))

    with progress(ctx.console) as bar, ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as ahead:
        task = bar.add_task("predict", total=len(inputs), info="")
        start = time.perf_counter()
        pending = ahead.submit(inputs.read, batch(0))
        for first in range(0, len(inputs), options.batch_size):
            pixels, kept, bad = pending.result()
            if first + options.batch_size < len(inputs):
                pending = ahead.submit(inputs.read, batch(first + options.batch_size))
            tally.skipped.extend({"input": inputs.names[i], "reason": why} for i, why in bad)
            if pixels is not None:
                x = facts.normalise(pixels)
                logits = forward(x)
                if reference is not None and tally.onnx_max_abs_diff is None:
                    _check_agreement(logits, reference(x), options, tally)
                writer.writerows(_rows(logits, kept, inputs, facts.class_names, k, tally))
                text.flush()
            done = min(first + options.batch_size, len(inputs))
            bar.update(task, completed=done, info=f"{done / max(time.perf_counter() - start, 1e-9):.0f} inputs/s")
    text.flush()
    text.detach()  # the handle stays open for the atomic writer to sync and rename
    if not tally.predicted:
        raise DatasetError(f"input={options.input}: none of its {len(inputs)} input(s) could be read; the first: "
                           f"{tally.skipped[0]['input']}: {tally.skipped[0]['reason']}.")


def _rows(logits: torch.Tensor, kept: list[int], inputs: Inputs, classes: list[str], k: int,
          tally: Tally) -> list[dict[str, Any]]:
    """predictions.csv's rows of one batch (the inputs `kept`), counted into `tally`."""
    top_p, top_i = torch.softmax(logits, dim=1).topk(k, dim=1)
    rows = []
    for row, i in enumerate(kept):
        picks, probs = top_i[row].tolist(), top_p[row].tolist()
        line: dict[str, Any] = {"input": inputs.names[i], "predicted": classes[picks[0]], "probability": f"{probs[0]:.6f}"}
        for rank in range(1, k):
            line[f"top{rank + 1}"] = classes[picks[rank]]
            line[f"top{rank + 1}_probability"] = f"{probs[rank]:.6f}"
        if inputs.labels is not None:
            truth = inputs.labels[i]
            line.update(label=classes[truth], correct=int(picks[0] == truth))
            tally.labelled += 1
            tally.correct += int(picks[0] == truth)
            tally.correct_top_k += int(truth in picks)
        tally.counts[picks[0]] += 1
        rows.append(line)
    tally.predicted += len(kept)
    return rows


def _check_agreement(logits: torch.Tensor, expected: torch.Tensor, options: PredictOptions, tally: Tally) -> None:
    """ONNX Runtime's logits for the first batch against PyTorch's, within atol/rtol as nas export checks."""
    tally.onnx_max_abs_diff = float((logits - expected).abs().max())
    if not torch.allclose(logits, expected, atol=options.atol, rtol=options.rtol):
        raise NasError(f"onnx={options.onnx} does not reproduce the checkpoint's outputs (largest difference "
                       f"{tally.onnx_max_abs_diff:.3g}, over atol={options.atol:g}, rtol={options.rtol:g}): was it "
                       f"exported from another checkpoint? Export this one (nas export checkpoint={options.checkpoint} "
                       f"format=onnx). Nothing was written.")


def _summarise(ctx: RunContext, options: PredictOptions, path: Path, facts: InputFacts, inputs: Inputs, tally: Tally,
               k: int, seconds: float, ran: dict[str, Any]) -> float | None:
    """report.json, report.md and the console's table; the accuracy where labels exist."""
    accuracy = 100.0 * tally.correct / tally.labelled if tally.labelled else None
    top_k_accuracy = 100.0 * tally.correct_top_k / tally.labelled if tally.labelled else None
    results: dict[str, Any] = {
        "inputs": len(inputs), "predicted": tally.predicted, "skipped": len(tally.skipped),
        "labelled": tally.labelled, "accuracy": accuracy, f"top{k}_accuracy": top_k_accuracy,
        "inputs_per_s": tally.predicted / seconds if seconds > 0 else None,
    }
    if tally.onnx_max_abs_diff is not None:
        results["onnx_max_abs_diff"] = tally.onnx_max_abs_diff
    counts = [{"class": name, "predicted": n} for name, n in zip(facts.class_names, tally.counts) if n]
    ctx.report.results.update({
        "checkpoint": str(path), "input": str(inputs.source), "input_kind": inputs.kind, "format": options.format,
        **ran, "top_k": k, "predictions": "predictions.csv", **results, "predicted_classes": counts,
        "skipped_inputs": tally.skipped, **({"labels_note": inputs.note} if inputs.note else {})})
    rows = [{"metric": key, "value": value} for key, value in results.items() if value is not None]
    ctx.report.sections.append(("Results", markdown_table(rows, ["metric", "value"])))
    ctx.report.sections.append(("Predicted classes", markdown_table(counts, ["class", "predicted"])))
    ctx.console.print(table(f"predict ({options.format}): {inputs.kind} from {inputs.source}", rows, ["metric", "value"]))
    if tally.skipped:
        shown = "; ".join(f"{s['input']}: {s['reason']}" for s in tally.skipped[:SHOWN_SKIPPED])
        left = len(tally.skipped) - SHOWN_SKIPPED
        more = f" (and {left} more, in report.json)" if left > 0 else ""
        ctx.console.print(f"[yellow]Skipped {len(tally.skipped)} unreadable input(s): {shown}{more}[/yellow]",
                          soft_wrap=True)
    ctx.console.print(f"predictions: {ctx.run_dir / 'predictions.csv'}", soft_wrap=True)
    return accuracy
