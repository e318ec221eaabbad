"""Data too large to cache (ImageNet at 224 px is about 190 GB decoded): splits that hold only file
paths, whose batches torch DataLoader worker processes decode from the files as they are asked for.

Training images get the ImageNet training transforms (a random resized crop, then a horizontal flip
with probability 1/2); every other read gets the evaluation transform (the shorter side resized to
image_size / crop, the centre square kept: nascli.data.images.decode with the split's Preprocess,
which checkpoints store, so `nas predict` reads files the same way). Every image's randomness comes
from a seed the loader draws from its own generator, so batches are the same for a seed whatever
the number of workers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nascli.data.datasets import LazyRows, Split
from nascli.data.images import BadImage, Preprocess, _convert, _upright, _why, decode


ORIENTATION = 0x0112  # the EXIF tag saying how a photo is turned


class FileImages(LazyRows):
    """Images of a split as file paths, decoded on demand with the evaluation transform: the same
    indexing interface as a (N, C, S, S) uint8 tensor (shape, len, [index], subset), nothing held."""

    def __init__(self, paths: Sequence[str], pre: Preprocess, crop_scale: tuple[float, float], workers: int,
                 index: np.ndarray | None = None) -> None:
        self.paths = list(paths)
        self.pre, self.crop_scale, self.workers = pre, (float(crop_scale[0]), float(crop_scale[1])), int(workers)
        self.index = np.arange(len(self.paths), dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), self.pre.channels, self.pre.image_size, self.pre.image_size)

    @property
    def dtype(self) -> torch.dtype:
        return torch.uint8

    @property
    def ndim(self) -> int:
        return 4

    def __len__(self) -> int:
        return len(self.index)

    def path(self, row: int) -> str:
        """The file of row `row` of this split."""
        return self.paths[int(self.index[row])]

    def __getitem__(self, key: Any) -> torch.Tensor:
        """The rows `key` decoded with the evaluation transform (a bad file reads as black)."""
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        chosen = self.index[key]
        if np.ndim(chosen) == 0:
            return torch.from_numpy(read_file(self.paths[int(chosen)], self.pre, None, self.crop_scale)[0])
        return torch.from_numpy(np.stack([read_file(self.paths[int(i)], self.pre, None, self.crop_scale)[0]
                                          for i in np.asarray(chosen)]) if len(chosen) else
                                np.zeros((0, *self.shape[1:]), dtype=np.uint8))

    def subset(self, key: Any) -> FileImages:
        """The same files, fewer rows (nothing is read)."""
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        return FileImages(self.paths, self.pre, self.crop_scale, self.workers, self.index[key])


class FileSplit(Split):
    """A Split whose images stay in their files; nascli.data.loader.BatchLoader decodes its batches
    in DataLoader workers (file_batches)."""

    images: FileImages  # type: ignore[assignment]

    def subset(self, index: torch.Tensor) -> Split:
        return FileSplit(self.images.subset(index), self.labels[index])


def resized_crop_box(width: int, height: int, scale: tuple[float, float], rng: np.random.Generator,
                     ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """A random crop (left, top, right, bottom) covering a `scale` share of the image's area with an
    aspect ratio in `ratio` (log-uniform), as Inception-style training samples it: ten tries, then
    the centre crop of the ratio nearest the image's."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            return left, top, left + w, top + h
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif aspect > ratio[1]:
        w, h = int(round(height * ratio[1])), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def read_file(path: str, pre: Preprocess, seed: int | None, crop_scale: tuple[float, float]) -> tuple[np.ndarray, str | None]:
    """The file as uint8 (C, S, S): the evaluation transform when `seed` is None, else a random
    resized crop and flip drawn from `seed`. A file that cannot be used reads as black, with why."""
    if seed is None:
        try:
            return decode(Path(path), pre), None
        except BadImage as exc:
            return np.zeros((pre.channels, pre.image_size, pre.image_size), dtype=np.uint8), str(exc)
    from PIL import Image

    rng = np.random.default_rng(seed)
    size = pre.image_size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                turned = img.getexif().get(ORIENTATION, 1) if img.format in ("JPEG", "TIFF", "WEBP", "PNG") else 1
                width, height = (img.height, img.width) if turned in (5, 6, 7, 8) else (img.width, img.height)
                box: tuple[float, ...] = resized_crop_box(width, height, crop_scale, rng)  # drawn before decoding
                if img.format == "JPEG" and turned == 1:  # decode at the smallest DCT scale the crop still fills
                    shrink = min(box[2] - box[0], box[3] - box[1]) / size
                    if shrink >= 2:
                        img.draft("RGB" if pre.channels == 3 else "L", (math.ceil(width / shrink), math.ceil(height / shrink)))
                        sx, sy = img.width / width, img.height / height
                        box = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
                img.load()
                img = _convert(_upright(img), pre.channels)
    except Image.DecompressionBombError as exc:
        why = f"decompression bomb refused by Pillow's limit ({exc})"
        return np.zeros((pre.channels, size, size), dtype=np.uint8), why
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types for a bad file
        return np.zeros((pre.channels, size, size), dtype=np.uint8), _why(exc)
    img = img.resize((size, size), Image.BILINEAR, box=box)
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    array = np.array(img, dtype=np.uint8)  # a copy: writable, so torch may share it
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return np.ascontiguousarray(array), None


class _Files(torch.utils.data.Dataset):
    """What a DataLoader worker reads: an item is (row, seed or -1 for the evaluation transform)."""

    def __init__(self, images: FileImages, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, str]:
        row, seed = item
        array, why = read_file(self.images.path(row), self.images.pre, None if seed < 0 else seed, self.images.crop_scale)
        return torch.from_numpy(array), self.labels[row], (f"{self.images.path(row)}: {why}" if why else "")


def _collate(items: list[tuple[torch.Tensor, torch.Tensor, str]]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    return torch.stack([i[0] for i in items]), torch.stack([i[1] for i in items]), [i[2] for i in items if i[2]]


def file_batches(split: FileSplit, batches: list[torch.Tensor], seeds: torch.Tensor | None,
                 bad: set[str]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """uint8 image batches and labels of `split` for the row `batches`, decoded by the split's
    DataLoader workers (at most two batches ahead per worker, so memory stays bounded); `seeds`
    (one per row of the split, None for evaluation) fix each image's crop and flip. Files that
    could not be used read as black and are added to `bad`."""
    items = [[(int(r), -1 if seeds is None else int(seeds[r])) for r in batch] for batch in batches]
    workers = split.images.workers
    loader = torch.utils.data.DataLoader(_Files(split.images, split.labels), batch_sampler=items, num_workers=workers,
                                         collate_fn=_collate, **({"prefetch_factor": 2} if workers > 0 else {}))
    for x, y, why in loader:
        if why:
            new = [w for w in why if w not in bad]
            bad.update(new)
            for w in new:
                warnings.warn(f"skipped a file that cannot be used (read as black): {w}", stacklevel=2)
        yield x, y
