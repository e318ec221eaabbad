"""Batches from in-memory splits, normalised and augmented as whole-batch tensor ops."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from nascli.data.datasets import DataSplits, Split
from nascli.data.files import FileSplit, file_batches


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad by `padding` and crop back to size at a random offset per image."""
    if padding <= 0:
        return x
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=gen).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=gen).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror each image horizontally with probability 1/2."""
    flip = (torch.rand(x.shape[0], generator=gen) < 0.5).to(x.device)[:, None, None, None]
    return torch.where(flip, x.flip(3), x)


def cutout(x: torch.Tensor, length: int, gen: torch.Generator) -> torch.Tensor:
    """Zero a `length`-sided square at a random centre per image (DeVries & Taylor, 2017)."""
    if length <= 0:
        return x
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n,), generator=gen).to(x.device)[:, None, None]
    cx = torch.randint(0, w, (n,), generator=gen).to(x.device)[:, None, None]
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    inside = ((ys - cy).abs() <= length // 2) & ((xs - cx).abs() <= length // 2)
    return x * (~inside).unsqueeze(1).to(x.dtype)


class BatchLoader:
    """Iterate over a split in batches: shuffled and augmented for training, in order otherwise.

    The generator is owned by the loader, so a seed fixes the order and augmentation of every epoch.
    """

    def __init__(
        self,
        split: Split,
        data: DataSplits,
        batch_size: int,
        train: bool = False,
        cutout_length: int = 0,
        seed: int = 0,
        device: torch.device | str = "cpu",
        drop_last: bool = False,
    ) -> None:
        self.split = split
        self.batch_size = int(batch_size)
        self.train = train
        self.cutout_length = int(cutout_length)
        self.device = torch.device(device)
        self.drop_last = drop_last
        self.gen = torch.Generator().manual_seed(seed)
        self.scale = 1.0 / data.max_value
        self.mean = torch.tensor(data.mean, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(data.std, device=self.device).view(1, -1, 1, 1)
        self.augment = data.augment
        self.bad_files: set[str] = set()  # files that could not be decoded (dataset.decode=files only)

    def __len__(self) -> int:
        n = len(self.split)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.split)
        order = torch.randperm(n, generator=self.gen) if self.train else torch.arange(n)
        if isinstance(self.split, FileSplit):
            yield from self._from_files(order)
            return
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start : start + self.batch_size]
            x = self.split.images[idx].to(self.device, non_blocking=True).float().mul_(self.scale)
            y = self.split.labels[idx].to(self.device, non_blocking=True)
            yield self._transform(x), y

    def _from_files(self, order: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches decoded from the files by DataLoader workers (dataset.decode=files): training
        images cropped and flipped there (each from a seed drawn here), then normalised and cut out."""
        seeds = torch.randint(0, 2**62, (len(self.split),), generator=self.gen) if self.train else None
        batches = [order[start : start + self.batch_size] for start in range(0, len(self) * self.batch_size, self.batch_size)]
        for x, y in file_batches(self.split, batches, seeds, self.bad_files):
            x = x.to(self.device, non_blocking=True).float().mul_(self.scale)
            x = (x - self.mean) / self.std
            if self.train:
                x = cutout(x, self.cutout_length, self.gen)
            yield x, y.to(self.device, non_blocking=True)

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        if self.train:
            x = random_crop(x, self.augment.crop_padding, self.gen)
            if self.augment.flip:
                x = random_flip(x, self.gen)
            x = self.augment.batch(x, self.gen)
        x = (x - self.mean) / self.std
        if self.train:
            x = cutout(x, self.cutout_length, self.gen)
        return x
