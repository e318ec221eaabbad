"""Datasets as in-memory uint8 tensors split into train/validation/test.

Each dataset of conf/dataset/ is one of the `*_splits` functions below with its YAML's options.

torchvision's dataset classes do the downloading, checking and file parsing; their arrays are
then held as tensors so that batching and augmentation run as tensor ops, not per-image Python.
"""

from __future__ import annotations

import socket
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from omegaconf import DictConfig

from nascli.errors import DatasetError
from nascli.runtime.config import configured

TORCHVISION: dict[str, str] = {
    "cifar10": "CIFAR10",
    "cifar100": "CIFAR100",
    "mnist": "MNIST",
    "fashion_mnist": "FashionMNIST",
    "svhn": "SVHN",
}


class DataShape(NamedTuple):
    """What a network must know of its inputs: the classes, the input channels and the (square)
    input size. A tuple, so it unpacks where a shape is asked for as (num_classes, in_channels, input_size)."""

    num_classes: int
    in_channels: int
    input_size: int
    table = None  # a TableShape's category codes per embedded column; None: images


class TableShape(DataShape):
    """A table's shape: rows are feature vectors of in_channels features (input_size 1) whose last
    len(table) channels are category codes, table[i] codes each, which a network embeds
    (nascli.data.tables). Equal to, and unpacked as, the DataShape of its three numbers."""

    def __new__(cls, num_classes: int, in_channels: int, input_size: int, table: tuple[int, ...]) -> TableShape:
        shape = super().__new__(cls, num_classes, in_channels, input_size)
        shape.table = tuple(int(t) for t in table)
        return shape


@dataclass
class Split:
    """Images (N, C, H, W) as uint8 and integer labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: torch.Tensor) -> Split:
        return Split(self.images[index], self.labels[index])


class LazyRows(ABC):
    """Images of a split read only when rows are indexed (from a cache file, or decoded from image
    files). A caller that needs the whole split as a tensor (`.to`, `.float`) reads every row: only
    for what fits in memory."""

    @abstractmethod
    def __len__(self) -> int:
        """How many rows."""

    @abstractmethod
    def __getitem__(self, key: Any) -> torch.Tensor:
        """The rows `key` selects, as a uint8 tensor."""

    def materialize(self) -> torch.Tensor:
        """Every row in memory."""
        import numpy as np

        return self[np.arange(len(self))]

    def to(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.materialize().to(*args, **kwargs)

    def float(self) -> torch.Tensor:
        return self.materialize().float()


@dataclass
class Augment:
    """Training-time augmentation, applied to whole batches by the loader."""

    crop_padding: int = 0  # zero-pad by this many pixels, then crop back at a random offset
    flip: bool = False     # mirror horizontally with probability 1/2

    def batch(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Further augmentation of a raw training batch before normalisation (none for images; audio's
        SpecAugment, time shift and noise: nascli.data.audio_folder.AudioAugment)."""
        return x


@dataclass
class DataSplits:
    """A dataset's splits and what a network needs to know about its inputs."""

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    class_names: list[str]
    max_value: float  # pixel value that maps to 1.0 (255 for images, 16 for digits)
    mean: list[float] = field(default_factory=list)  # per channel, of train images scaled to [0, 1]
    std: list[float] = field(default_factory=list)
    augment: Augment = field(default_factory=Augment)
    # how files became these images (nascli.data.images.Preprocess.record()) for data that was
    # decoded and resized (folder, arrays); None for the built-in datasets, used as they come
    preprocess: dict[str, Any] | None = None
    # what reading the user's files found (root, layout, bad files skipped, modes converted, cache);
    # None for the built-in datasets
    source: dict[str, Any] | None = None
    # a table's category codes per embedded column (TableShape.table); None for images
    table: tuple[int, ...] | None = None
    # what a one-shot search chooses its architecture on: "halves" of the training split (weights on
    # one, architecture on the other), or the "validation" split (weights on all of training)
    search_split: str = "halves"

    @property
    def in_channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def input_size(self) -> int:
        return int(self.train.images.shape[-1])

    @property
    def shape(self) -> DataShape:
        if self.table is not None:
            return TableShape(self.num_classes, self.in_channels, self.input_size, self.table)
        return DataShape(self.num_classes, self.in_channels, self.input_size)

    def describe(self) -> dict[str, Any]:
        """Facts about the data for reports and checkpoints."""
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "input_size": self.input_size,
            "train": len(self.train),
            "val": len(self.val),
            "test": len(self.test),
            "class_names": self.class_names,
            "mean": self.mean,
            "std": self.std,
            "max_value": self.max_value,
            "preprocess": self.preprocess,
            **({"source": self.source} if self.source is not None else {}),
            **({"table": list(self.table)} if self.table is not None else {}),
        }


class DataOnDemand:
    """Mixin of the contexts handed to strategies, evaluators and meta-learners: `data` is
    `load_data()` on first use, then kept, so that work that needs no data (a benchmark table's
    lookups) never loads any."""

    load_data: Callable[[], DataSplits]

    @property
    def data(self) -> DataSplits:
        if getattr(self, "_loaded", None) is None:
            self._loaded = self.load_data()
        return self._loaded


def _stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (keep, held_out) with about `fraction` of every class held out, fixed by `seed`."""
    if fraction <= 0:
        return torch.arange(len(labels)), torch.empty(0, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    keep, held = [], []
    for cls in torch.unique(labels):
        idx = torch.nonzero(labels == cls).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n_held = int(round(len(idx) * fraction))
        held.append(idx[:n_held])
        keep.append(idx[n_held:])
    return torch.sort(torch.cat(keep)).values, torch.sort(torch.cat(held)).values


def _finish(
    name: str,
    train: Split,
    test: Split,
    num_classes: int,
    class_names: list[str],
    max_value: float,
    val_fraction: float,
    split_seed: int,
    max_train_samples: int | None,
    augment: Augment,
    classes: list[int] | None = None,
) -> DataSplits:
    """Keep the chosen classes, hold out the validation split, cap the training split, and
    compute normalisation stats."""
    if classes is not None:
        train, test, class_names = _keep_classes(name, train, test, class_names, list(classes))
        num_classes = len(class_names)
    if not 0.0 <= val_fraction < 1.0:
        raise DatasetError(f"dataset.val_fraction must be in [0, 1), got {val_fraction}.")
    keep, held = _stratified_split(train.labels, val_fraction, split_seed)
    train, val = train.subset(keep), train.subset(held)
    if max_train_samples is not None:
        if int(max_train_samples) < 1:
            raise DatasetError(f"dataset.max_train_samples must be a positive integer, got {max_train_samples}.")
        gen = torch.Generator().manual_seed(split_seed)
        train = train.subset(torch.randperm(len(train), generator=gen)[: int(max_train_samples)])
    scaled = train.images.float() / max_value
    mean = scaled.mean(dim=(0, 2, 3)).tolist()
    std = scaled.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
    return DataSplits(name, train, val, test, num_classes, class_names, max_value, mean, std, augment)


def _keep_classes(name: str, train: Split, test: Split, class_names: list[str], classes: list[int]) -> tuple[Split, Split, list[str]]:
    """Only the examples of `classes`, relabelled 0..k-1 in the order given (a class-subset task)."""
    known = range(len(class_names))
    if len(classes) < 2 or len(set(classes)) != len(classes) or any(c not in known for c in classes):
        raise DatasetError(f"dataset.classes must list at least two distinct class ids of {name} "
                           f"(0..{len(class_names) - 1}), got {classes}.")
    lookup = torch.full((len(class_names),), -1, dtype=torch.long)
    lookup[torch.tensor(classes)] = torch.arange(len(classes))

    def keep(split: Split) -> Split:
        mask = lookup[split.labels] >= 0
        return Split(split.images[mask], lookup[split.labels[mask]])

    return keep(train), keep(test), [class_names[c] for c in classes]


def subset_classes(data: DataSplits, classes: list[int]) -> DataSplits:
    """A class-subset task of already loaded splits (labels relabelled 0..k-1 in the order given)."""
    train, test, names = _keep_classes(data.name, data.train, data.test, data.class_names, list(classes))
    val, _, _ = _keep_classes(data.name, data.val, data.val, data.class_names, list(classes))
    return DataSplits(data.name, train, val, test, len(names), names, data.max_value, data.mean, data.std, data.augment,
                      data.preprocess, data.source, data.table)


def digits_splits(
    name: str,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    max_train_samples: int | None,
    augment: Augment,
    classes: list[int] | None,
) -> DataSplits:
    """scikit-learn's 1,797 real 8x8 handwritten digits, split stratified into train/val/test."""
    if not 0.0 <= test_fraction < 1.0:
        raise DatasetError(f"dataset.test_fraction must be in [0, 1), got {test_fraction}.")
    if val_fraction < 0.0 or val_fraction + test_fraction >= 1.0:
        raise DatasetError(f"dataset.val_fraction must be at least 0 and leave training images: val_fraction + "
                           f"test_fraction must be below 1, got {val_fraction} + {test_fraction}.")
    pixels, target = _read_digits()
    images = torch.as_tensor(pixels, dtype=torch.uint8).reshape(-1, 1, 8, 8)  # values 0..16
    labels = torch.as_tensor(target, dtype=torch.long)
    rest, test_idx = _stratified_split(labels, test_fraction, split_seed + 1)
    full = Split(images, labels)
    # val_fraction is of the whole set, as users read it; convert to a share of what is left.
    val_of_rest = val_fraction / (1.0 - test_fraction) if val_fraction > 0 else 0.0
    return _finish(
        name, full.subset(rest), full.subset(test_idx), 10, [str(d) for d in range(10)], 16.0,
        val_of_rest, split_seed, max_train_samples, augment, classes,
    )


def _read_digits() -> tuple[Any, Any]:
    """(pixels (1797, 64), labels) from the CSV scikit-learn ships, read without importing sklearn
    (50x faster than sklearn.datasets.load_digits, same values); load_digits if the file moved."""
    import importlib.util

    import numpy as np

    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise DatasetError("dataset=digits needs scikit-learn, which ships the data: pip install scikit-learn.")
    path = Path(next(iter(spec.submodule_search_locations or []), "")) / "datasets" / "data" / "digits.csv.gz"
    if path.is_file():
        table = np.loadtxt(path, delimiter=",", dtype=np.float32)
        return table[:, :-1], table[:, -1]
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data, bunch.target


def fake_splits(
    name: str,
    num_classes: int,
    channels: int,
    image_size: int,
    train_samples: int,
    val_samples: int,
    test_samples: int,
    seed: int,
    max_train_samples: int | None,
    augment: Augment,
    classes: list[int] | None,
) -> DataSplits:
    """Random images and labels, for throughput measurements only."""
    gen = torch.Generator().manual_seed(seed)

    def make(n: int) -> Split:
        images = torch.randint(0, 256, (n, channels, image_size, image_size), generator=gen, dtype=torch.uint8)
        return Split(images, torch.randint(0, num_classes, (n,), generator=gen))

    train = make(train_samples + val_samples)
    fraction = val_samples / (train_samples + val_samples)
    return _finish(
        name, train, make(test_samples), num_classes, [str(c) for c in range(num_classes)], 255.0,
        fraction, seed, max_train_samples, augment, classes,
    )


def _to_split(ds: Any) -> Split:
    """A torchvision dataset's arrays as a Split of (N, C, H, W) uint8 images."""
    images = torch.as_tensor(ds.data)
    labels = torch.as_tensor(getattr(ds, "targets", None) if hasattr(ds, "targets") else ds.labels)
    if images.ndim == 3:  # MNIST-like (N, H, W)
        images = images.unsqueeze(1)
    elif images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):  # CIFAR: (N, H, W, C)
        images = images.permute(0, 3, 1, 2)
    return Split(images.contiguous().to(torch.uint8), labels.long())


def _missing(name: str, root: Path, reason: str) -> DatasetError:
    return DatasetError(
        f"Dataset '{name}' is not in {root} and could not be downloaded ({reason}).\n"
        f"Download it on a machine with network access (any nas command with dataset={name} does it) "
        f"and copy the folder {root} here, or point paths.data_dir=<dir> (or the environment variable "
        f"NASCLI_DATA_DIR) at a directory that holds it. For a run without network, use dataset=digits."
    )


def _open_torchvision(name: str, root: Path, download: bool, train: bool) -> Any:
    """Open (and, if allowed, download) one split with torchvision's own dataset class."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION[name])
    kwargs = {"split": "train" if train else "test"} if name == "svhn" else {"train": train}
    try:
        return cls(str(root), download=False, **kwargs)
    except Exception as exc:  # torchvision raises RuntimeError when files are absent or corrupt
        if not download:
            raise _missing(name, root, f"not found and dataset.download=false: {exc}") from None
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)  # an unreachable mirror must fail, not hang
    try:
        return cls(str(root), download=True, **kwargs)
    except Exception as exc:
        raise _missing(name, root, f"{type(exc).__name__}: {exc}") from None
    finally:
        socket.setdefaulttimeout(previous)


def torchvision_splits(
    name: str,
    root: str,
    download: bool,
    val_fraction: float,
    split_seed: int,
    max_train_samples: int | None,
    augment: Augment,
    classes: list[int] | None,
) -> DataSplits:
    """A torchvision dataset in `root/name`: official train split into train/val, official test."""
    if name not in TORCHVISION:
        raise DatasetError(f"Unknown torchvision dataset '{name}'. Known: {', '.join(TORCHVISION)}.")
    folder = Path(root).expanduser() / name
    train_ds = _open_torchvision(name, folder, download, train=True)
    test_ds = _open_torchvision(name, folder, download, train=False)
    names = [str(c) for c in getattr(train_ds, "classes", [])] or [str(c) for c in range(10)]
    train, test = _to_split(train_ds), _to_split(test_ds)
    num_classes = max(len(names), int(train.labels.max()) + 1)
    return _finish(name, train, test, num_classes, names, 255.0, val_fraction, split_seed, max_train_samples, augment, classes)


# --- shapes known without loading --------------------------------------------------------------
TORCHVISION_SHAPES: dict[str, DataShape] = {
    "cifar10": DataShape(10, 3, 32), "cifar100": DataShape(100, 3, 32), "mnist": DataShape(10, 1, 28),
    "fashion_mnist": DataShape(10, 1, 28), "svhn": DataShape(10, 3, 32),
}
# what each source's options say of its shape (None: only its files tell); a new source adds itself here
STATED: dict[Callable[..., DataSplits], Callable[[dict[str, Any]], DataShape | None]] = {
    digits_splits: lambda options: DataShape(10, 1, 8),
    torchvision_splits: lambda options: TORCHVISION_SHAPES.get(options["name"]),
    fake_splits: lambda options: DataShape(options["num_classes"], options["channels"], options["image_size"]),
}


def stated_shape(node: DictConfig) -> DataShape | None:
    """The shape a dataset's config fixes without reading any image (a class subset has as many
    classes as it lists), every option checked; None for a source whose files alone tell."""
    source, options = configured(node, "dataset")
    shape = STATED[source](options) if source in STATED else None
    classes = options.get("classes")
    return shape._replace(num_classes=len(classes)) if shape is not None and classes else shape


def data_shape(node: DictConfig, load: Callable[[], DataSplits]) -> DataShape:
    """The dataset's shape: as its config states it (digits, torchvision's, fake: cifar10's needs no
    download), else from the data `load` returns."""
    return stated_shape(node) or load().shape
