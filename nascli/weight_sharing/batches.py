"""The data a one-shot search trains and scores on, and its reproducible random streams.

Token data (nascli.data.text) is batched as its task needs: a language model's stream in
contiguous windows (its halves are contiguous too), labelled texts shuffled and padded."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import torch

from nascli.data.datasets import DataSplits, Split
from nascli.data.loader import BatchLoader
from nascli.data.text_batches import StreamBatches, TextBatches

Batch = tuple[torch.Tensor, torch.Tensor]
T = TypeVar("T")


def epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A seed for one random stream of one epoch (0: torch global, 1: Gumbel, 2/3: data halves,
    4: sampled paths), so that a resumed search draws exactly what an uninterrupted one would."""
    return ((seed * 1_000_003 + epoch) * 8 + stream) % (2**62)


def _text(data: DataSplits) -> str | None:
    """"lm" or "classification" for token data, None for images."""
    return getattr(data, "task", None)


def _text_batches(split: Split, data: DataSplits, batch_size: int, seed: int, device: Any) -> StreamBatches | TextBatches:
    if _text(data) == "lm":  # contiguous windows: a stream is not shuffled
        return StreamBatches(split.images, batch_size, data.input_size, device)
    return TextBatches(split, batch_size, train=True, seed=seed, device=device)


def split_halves(split: Split, seed: int) -> tuple[Split, Split]:
    """The training split cut in two random halves (weights / architecture), fixed by `seed`; a
    token stream (1-D) in two contiguous halves."""
    if getattr(split.images, "ndim", None) == 1:  # tensors, file rows and file images all say ndim
        half = len(split) // 2
        index = torch.arange(len(split))
        return split.subset(index[:half]), split.subset(index[half:])
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    half = len(split) // 2
    return split.subset(order[:half].sort().values), split.subset(order[half:].sort().values)


def search_halves(data: DataSplits, seed: int) -> tuple[Split, Split]:
    """What a one-shot search trains its weights on and chooses its architecture on. Data whose
    `search_split` is "validation" (a language model's corpus, as the DARTS and ENAS reference
    code search PTB): the training split and the validation split. Otherwise the training split's
    two halves (split_halves), as DARTS searches CIFAR-10."""
    if data.search_split == "validation":
        return data.train, data.val
    return split_halves(data.train, seed)


def rounds(make: Callable[[int], Iterable[T]]) -> Iterator[T]:
    """make(0)'s items, then make(1)'s, and so on (ending only if a round is empty): a shorter
    split's batches for as long as a longer one's last."""
    for k in itertools.count():
        empty = True
        for item in make(k):
            empty = False
            yield item
        if empty:
            return


def epoch_batches(split: Split, data: DataSplits, batch_size: int, seed: int, epoch: int, stream: int,
                  device: Any) -> BatchLoader:
    """One epoch's shuffled, augmented batches of `split` (a short last batch dropped when there
    are full ones), fixed by (seed, epoch, stream)."""
    if _text(data):
        return _text_batches(split, data, batch_size, epoch_seed(seed, epoch, stream), device)  # type: ignore[return-value]
    return BatchLoader(split, data, batch_size, train=True, seed=epoch_seed(seed, epoch, stream), device=device,
                       drop_last=len(split) > batch_size)


def fixed_batches(split: Split, data: DataSplits, batch_size: int, count: int | None, seed: int,
                  device: Any) -> list[Batch]:
    """`count` batches (all if None) of a random order of `split` fixed by `seed`, not augmented
    (a token stream's in order)."""
    if _text(data):
        batches = list(_text_batches(split, data, batch_size, seed, device))
        return batches if count is None else batches[:count]
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    batches = list(BatchLoader(split.subset(order), data, batch_size, device=device))
    return batches if count is None else batches[:count]


def shuffled_batches(split: Split, data: DataSplits, batch_size: int, seed: int, device: Any) -> BatchLoader:
    """Every batch of `split` in a random order fixed by `seed`, augmented (a token stream's in order)."""
    if _text(data):
        return _text_batches(split, data, batch_size, seed, device)  # type: ignore[return-value]
    return BatchLoader(split, data, batch_size, train=True, seed=seed, device=device)


def eval_batches(split: Split, data: DataSplits, batch_size: int, device: Any) -> BatchLoader:
    """Every batch of `split` in order, not augmented: what scores a network on it."""
    if _text(data) == "lm":
        return StreamBatches(split.images, batch_size, data.input_size, device)  # type: ignore[return-value]
    if _text(data):
        return TextBatches(split, batch_size, device=device)  # type: ignore[return-value]
    return BatchLoader(split, data, batch_size, device=device)
