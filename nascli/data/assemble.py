"""The user's own data (folders, arrays) as DataSplits: given or stratified splits, class subsets,
normalisation statistics, and, when the images would not fit in `memory_limit_gb`, splits whose
batches are read from the cache file on demand instead of held in memory.

Both modes hand the training loop the same `Split` interface and the same batches for a seed: a
streamed split's `images[index]` reads exactly the rows an in-memory tensor would have returned.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nascli.data.datasets import Augment, DataSplits, LazyRows, Split, _stratified_split
from nascli.data.files import FileImages, FileSplit
from nascli.errors import DatasetError

SPLITS = ("train", "val", "test")
STATS_FILES = 2000  # training files read for the normalisation statistics when batches are decoded from files


def memory_limit_bytes(memory_limit_gb: float | None) -> int:
    """The bytes of images held in memory at most: the option, or half of this machine's memory."""
    if memory_limit_gb is not None:
        if memory_limit_gb <= 0:
            raise DatasetError(f"dataset.memory_limit_gb must be positive (or null for half of this machine's "
                               f"memory), got {memory_limit_gb}.")
        return int(memory_limit_gb * 2**30)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.5)
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


class FileRows(LazyRows):
    """Rows of a uint8 (N, C, H, W) `.npy` array read from the file on demand, never all at once.

    Reads go through the page cache with pread, not a memory map, so the process's resident memory
    stays at one batch however much of the file an epoch touches."""

    def __init__(self, path: Path, offset: int, shape: tuple[int, ...], index: np.ndarray) -> None:
        self.path, self.offset, self.full_shape = Path(path), int(offset), tuple(int(s) for s in shape)
        self.index = np.asarray(index, dtype=np.int64)
        self.row_bytes = int(np.prod(self.full_shape[1:]))
        self._fd: int | None = None

    @classmethod
    def of(cls, array: np.ndarray, index: np.ndarray) -> FileRows:
        """The rows `index` of a memory-mapped .npy array (np.load(..., mmap_mode="r"))."""
        if not isinstance(array, np.memmap) or array.filename is None:
            raise TypeError("FileRows reads a memory-mapped .npy array")
        return cls(Path(array.filename), array.offset, array.shape, index)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.full_shape[1:])

    @property
    def dtype(self) -> torch.dtype:
        return torch.uint8

    @property
    def ndim(self) -> int:
        return len(self.full_shape)

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict[str, Any]:  # a worker process opens its own descriptor
        return {**self.__dict__, "_fd": None}

    def _read(self, rows: np.ndarray) -> np.ndarray:
        """The file's rows `rows` (any order), each read once, in file order."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        out = np.empty((len(rows), *self.full_shape[1:]), dtype=np.uint8)
        order = np.argsort(rows, kind="stable")
        flat = out.reshape(len(rows), -1)
        for position in order:
            row = int(rows[position])
            data = os.pread(self._fd, self.row_bytes, self.offset + row * self.row_bytes)
            if len(data) != self.row_bytes:
                raise DatasetError(f"The decoded-image cache {self.path} is shorter than its record says (row {row}); "
                                   f"delete it and run again to decode the images afresh.")
            flat[position] = np.frombuffer(data, dtype=np.uint8)
        return out

    def __getitem__(self, key: Any) -> torch.Tensor:
        """The rows `key` (an index tensor, array, slice or int) as a uint8 tensor."""
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        chosen = self.index[key]
        if np.ndim(chosen) == 0:
            return torch.from_numpy(self._read(np.asarray([chosen]))[0])
        return torch.from_numpy(self._read(np.asarray(chosen)))

    def subset(self, key: Any) -> FileRows:
        """The same file, fewer rows (nothing is read)."""
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        return FileRows(self.path, self.offset, self.full_shape, self.index[key])


class StreamSplit(Split):
    """A Split whose images stay in the cache file: batches are read as they are asked for."""

    images: FileRows  # type: ignore[assignment]

    def subset(self, index: torch.Tensor) -> Split:
        return StreamSplit(self.images.subset(index), self.labels[index])


def _whole_file(images: np.ndarray) -> bool:
    """Whether `images` is a whole memory-mapped uint8 .npy array, rows in file order (what FileRows reads)."""
    if not (isinstance(images, np.memmap) and images.dtype == np.uint8 and images.flags["C_CONTIGUOUS"] and images.filename):
        return False
    try:
        return images.offset + images.nbytes == os.path.getsize(images.filename)
    except OSError:
        return False


def _split_off(labels: np.ndarray, pool: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`pool` (indices into labels) as (kept, held out), about `fraction` of every class held out."""
    keep, held = _stratified_split(torch.as_tensor(labels[pool]), fraction, seed)
    return pool[keep.numpy()], pool[held.numpy()]


def _stats(split: Split, max_value: float, budget: int = 2**22) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the training images scaled to [0, 1], read in chunks of about
    `budget` pixels (bounded memory whatever the split's size); uint8 pixels are counted in a
    256-bin histogram per channel, exact and fast."""
    n = len(split)
    if n == 0:
        return [], []
    channels, pixels = int(split.images.shape[1]), int(np.prod(split.images.shape[2:]))
    chunk = max(1, budget // max(1, channels * pixels))
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    values = torch.arange(256, dtype=torch.float64)
    for start in range(0, n, chunk):
        block = split.images[torch.arange(start, min(n, start + chunk))]
        if block.dtype == torch.uint8:
            for c in range(channels):
                counts = torch.bincount(block[:, c].reshape(-1), minlength=256).double()
                total[c] += (counts * values).sum()
                squares[c] += (counts * values * values).sum()
        else:
            block = block.double()
            total += block.sum(dim=(0, 2, 3))
            squares += (block * block).sum(dim=(0, 2, 3))
    count = n * pixels
    mean = total / count
    var = (squares / count - mean * mean).clamp_min(0) * count / max(1, count - 1)
    return (mean / max_value).float().tolist(), (var.sqrt() / max_value).clamp_min(1e-3).float().tolist()


def assemble(
    name: str,
    images: np.ndarray,
    labels: np.ndarray,
    parts: dict[str, np.ndarray],
    class_names: list[str],
    max_value: float,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    max_train_samples: int | None,
    augment: Augment,
    classes: list[int] | None,
    memory_limit_gb: float | None,
    preprocess: dict[str, Any] | None,
    row_sums: np.ndarray | None = None,
) -> DataSplits:
    """DataSplits from rows of `images` (N, C, H, W) and `labels` (N,): `parts` names the rows of
    each given split ("train" at least); a missing val or test split is held out of train,
    stratified and fixed by split_seed (test_fraction and val_fraction are shares of that pool).
    Memory-mapped uint8 images larger than memory_limit_gb stay in their file (StreamSplit);
    FileImages (paths, decode=files) give FileSplits, decoded batch by batch.
    `row_sums` (N, C, 2), each row's per-channel sum and sum of squares (the decode cache keeps
    them), gives the normalisation statistics without reading the images again."""
    for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise DatasetError(f"dataset.{key} must be in [0, 1), got {value}.")
    labels = np.asarray(labels, dtype=np.int64)
    given = {k: np.asarray(v, dtype=np.int64) for k, v in parts.items()}
    if classes is not None:  # a class-subset task: only their rows, relabelled 0..k-1 in the order given
        classes = list(classes)
        if len(classes) < 2 or len(set(classes)) != len(classes) or any(c not in range(len(class_names)) for c in classes):
            raise DatasetError(f"dataset.classes must list at least two distinct class ids of {name} "
                               f"(0..{len(class_names) - 1}: {', '.join(class_names[:20])}), got {classes}.")
        lookup = np.full(len(class_names), -1, dtype=np.int64)
        lookup[classes] = np.arange(len(classes))
        labels = lookup[labels]
        given = {k: v[labels[v] >= 0] for k, v in given.items()}
        class_names = [class_names[c] for c in classes]
    pool = given.pop("train")
    if "test" not in given:
        pool, given["test"] = _split_off(labels, pool, test_fraction, split_seed + 1)
    if "val" not in given:
        share = val_fraction / (1.0 - test_fraction) if "test" not in parts and val_fraction > 0 else val_fraction
        if share >= 1.0:
            raise DatasetError(f"dataset.val_fraction + dataset.test_fraction must be below 1 to leave training "
                               f"images, got {val_fraction} + {test_fraction}.")
        pool, given["val"] = _split_off(labels, pool, share, split_seed)
    given["train"] = pool
    if len(pool) == 0:
        raise DatasetError(f"Dataset '{name}' leaves no training images after the validation and test splits; "
                           f"lower dataset.val_fraction / dataset.test_fraction or add images.")
    if max_train_samples is not None:
        if int(max_train_samples) < 1:
            raise DatasetError(f"dataset.max_train_samples must be a positive integer, got {max_train_samples}.")
        gen = torch.Generator().manual_seed(split_seed)
        pick = torch.randperm(len(pool), generator=gen)[: int(max_train_samples)].numpy()
        given["train"] = np.sort(pool[pick])
    nbytes = sum(len(v) for v in given.values()) * int(np.prod(images.shape[1:])) * images.dtype.itemsize
    stream = _whole_file(images) and nbytes > memory_limit_bytes(memory_limit_gb)
    label_tensor = torch.as_tensor(labels)

    def split(index: np.ndarray) -> Split:
        index = np.sort(index)
        if isinstance(images, FileImages):
            return FileSplit(images.subset(index), label_tensor[torch.as_tensor(index)])
        if stream:
            return StreamSplit(FileRows.of(images, index), label_tensor[torch.as_tensor(index)])  # type: ignore[arg-type]
        return Split(torch.from_numpy(np.ascontiguousarray(images[index])), label_tensor[torch.as_tensor(index)])

    train, val, test = (split(given[k]) for k in SPLITS)
    if row_sums is not None and len(given["train"]):
        picked = np.asarray(row_sums[np.sort(given["train"])], dtype=np.float64).sum(axis=0)
        count = len(given["train"]) * int(np.prod(images.shape[2:]))
        mean_raw = picked[:, 0] / count
        var = np.clip(picked[:, 1] / count - mean_raw**2, 0, None) * count / max(1, count - 1)
        mean = (mean_raw / max_value).astype(np.float32).tolist()
        std = np.maximum(np.sqrt(var) / max_value, 1e-3).astype(np.float32).tolist()
    elif isinstance(train, FileSplit):  # a seeded sample of the training files, evaluation transform
        pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(split_seed))[:STATS_FILES]
        mean, std = _stats(train.subset(pick.sort().values), max_value)
    else:
        mean, std = _stats(train, max_value)
    return DataSplits(name, train, val, test, len(class_names), class_names, max_value, mean, std, augment, preprocess)
