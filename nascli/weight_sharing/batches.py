"""The data a one-shot search trains and scores on, and its reproducible random streams."""

from __future__ import annotations

from typing import Any

import torch

from nascli.data.datasets import DataSplits, Split
from nascli.data.loader import BatchLoader

Batch = tuple[torch.Tensor, torch.Tensor]


def epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A seed for one random stream of one epoch (0: torch global, 1: Gumbel, 2/3: data halves,
    4: sampled paths), so that a resumed search draws exactly what an uninterrupted one would."""
    return ((seed * 1_000_003 + epoch) * 8 + stream) % (2**62)


def split_halves(split: Split, seed: int) -> tuple[Split, Split]:
    """The training split cut in two random halves (weights / architecture), fixed by `seed`."""
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    half = len(split) // 2
    return split.subset(order[:half].sort().values), split.subset(order[half:].sort().values)


def epoch_batches(split: Split, data: DataSplits, batch_size: int, seed: int, epoch: int, stream: int,
                  device: Any) -> BatchLoader:
    """One epoch's shuffled, augmented batches of `split` (a short last batch dropped when there
    are full ones), fixed by (seed, epoch, stream)."""
    return BatchLoader(split, data, batch_size, train=True, seed=epoch_seed(seed, epoch, stream), device=device,
                       drop_last=len(split) > batch_size)


def fixed_batches(split: Split, data: DataSplits, batch_size: int, count: int | None, seed: int,
                  device: Any) -> list[Batch]:
    """`count` batches (all if None) of a random order of `split` fixed by `seed`, not augmented."""
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    batches = list(BatchLoader(split.subset(order), data, batch_size, device=device))
    return batches if count is None else batches[:count]
