"""Batches of token ids for recurrent networks.

A language model's split is one stream cut into `batch_size` contiguous rows (the reference code's
`batchify`: the tail that does not fill a row is dropped), read `bptt` tokens at a time, each
window's target the same window one token on. Row b of one batch continues row b of the previous
one, so a network may carry its hidden state from batch to batch (detached).
A classification split is shuffled (seeded) for training, in order otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from nascli.data.datasets import Split


def batchify(stream: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(batch_size, n) rows of consecutive tokens of `stream`: row b is the b-th n-token piece."""
    n = stream.numel() // batch_size
    if n < 2:
        raise ValueError(f"a stream of {stream.numel()} tokens cannot fill {batch_size} rows of at least 2 tokens")
    return stream[: n * batch_size].view(batch_size, n)


class StreamBatches:
    """(inputs, targets), each (batch_size, <= bptt), over a token stream in order."""

    def __init__(self, stream: torch.Tensor, batch_size: int, bptt: int, device: torch.device | str = "cpu") -> None:
        batch_size = max(1, min(int(batch_size), stream.numel() // 2))  # a short split still gives one row
        self.rows = batchify(stream, batch_size).to(device)
        self.bptt = int(bptt)

    def __len__(self) -> int:
        return -(-(self.rows.shape[1] - 1) // self.bptt)

    @property
    def tokens(self) -> int:
        """Targets per pass: every token of the rows but each row's first."""
        return self.rows.shape[0] * (self.rows.shape[1] - 1)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        total = self.rows.shape[1] - 1
        for start in range(0, total, self.bptt):
            length = min(self.bptt, total - start)
            yield self.rows[:, start:start + length], self.rows[:, start + 1:start + 1 + length]


class TextBatches:
    """(ids (B, L), labels (B,)) of a classification split: shuffled by `seed` for training; L is the
    batch's longest text (at most max_length), so no step runs over padding alone."""

    def __init__(self, split: Split, batch_size: int, train: bool = False, seed: int = 0,
                 device: torch.device | str = "cpu") -> None:
        self.split, self.batch_size, self.train = split, int(batch_size), train
        self.gen = torch.Generator().manual_seed(seed)
        self.device = torch.device(device)

    def __len__(self) -> int:
        return -(-len(self.split) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.split)
        order = torch.randperm(n, generator=self.gen) if self.train else torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            ids = self.split.images[idx]
            longest = max(1, int((ids != 0).long().sum(dim=1).max()))
            yield ids[:, :longest].to(self.device), self.split.labels[idx].to(self.device)
