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


MIN_WINDOW = 5        # the reference code's shortest training window ...
MAX_WINDOW_DELTA = 20  # ... and how far beyond bptt one may reach (its --max_seq_len_delta)


def window_lengths(total: int, bptt: int, gen: torch.Generator) -> list[int]:
    """AWD-LSTM's variable windows covering `total` tokens: bptt (or, one time in 20, bptt / 2) plus
    normal noise of sd 5, at least 5 and at most bptt + 20, so that no epoch cuts the stream at
    the same places."""
    lengths, done = [], 0
    while done < total:
        base = bptt if float(torch.rand((), generator=gen)) < 0.95 else bptt / 2
        length = int(round(base + 5.0 * float(torch.randn((), generator=gen))))
        length = min(max(MIN_WINDOW, length), bptt + MAX_WINDOW_DELTA, total - done)
        lengths.append(length)
        done += length
    return lengths


class StreamBatches:
    """(inputs, targets), each (batch_size, <= bptt), over a token stream in order; with a generator,
    windows of varying length around bptt (training, as AWD-LSTM and DARTS train)."""

    def __init__(self, stream: torch.Tensor, batch_size: int, bptt: int, device: torch.device | str = "cpu",
                 gen: torch.Generator | None = None) -> None:
        batch_size = max(1, min(int(batch_size), stream.numel() // 2))  # a short split still gives one row
        self.rows = batchify(stream, batch_size).to(device)
        self.bptt = int(bptt)
        total = self.rows.shape[1] - 1
        self.lengths = (window_lengths(total, self.bptt, gen) if gen is not None
                        else [min(self.bptt, total - start) for start in range(0, total, self.bptt)])

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def tokens(self) -> int:
        """Targets per pass: every token of the rows but each row's first."""
        return self.rows.shape[0] * (self.rows.shape[1] - 1)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        start = 0
        for length in self.lengths:
            yield self.rows[:, start:start + length], self.rows[:, start + 1:start + 1 + length]
            start += length


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
