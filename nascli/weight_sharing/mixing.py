"""How a supernet's mixed edges combine their candidates: the one-shot methods' part of a supernet.

A Mixing turns a group's architecture parameters into one EdgeStep per row for a forward pass:
a weighted mixture of every candidate, or one candidate (times a straight-through scale).

- `Softmax`: softmax(alpha)-weighted sum of all candidates (DARTS, Liu et al., 2019).
- `PartialChannels(k)`: the same mixture on 1/k of the channels, the rest bypassed, then a channel
  shuffle; a node's input edges weighted by softmax-normalised edge parameters beta (PC-DARTS, Xu
  et al., 2020).
- `Gumbel`: one candidate per edge sampled by hard Gumbel-softmax at temperature `tau`, with the
  straight-through gradient to alpha (GDAS, Dong & Yang, 2019); in evaluation the argmax, deterministic.
- `Sigmoid`: every candidate weighted by sigmoid(alpha), independently of the others, so ops do not
  compete for one share of a row (FairDARTS, Chu et al., 2020).
- `SinglePath`: no mixture: the supernet runs the ops of a given architecture (SPOS, ENAS).

A new one-shot method adds a Mixing here (and a strategy); no search space changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class EdgeStep:
    """What one edge does in one forward: a mixture (`weights` per candidate, also as one tensor
    `row`), or one candidate (`index`), times `scale`."""

    weights: Sequence[torch.Tensor] | None = None
    index: int | None = None
    scale: torch.Tensor | None = None
    row: torch.Tensor | None = None


def mixture_steps(weights: torch.Tensor, scales: Sequence[torch.Tensor | None] | None = None) -> list[EdgeStep]:
    """One mixture EdgeStep per row of `weights` (rows x candidates), each times its `scales` entry."""
    rows = weights.unbind(0)
    scales = scales if scales is not None else [None] * len(rows)
    return [EdgeStep(weights=row.unbind(0), scale=scale, row=row) for row, scale in zip(rows, scales)]


def gumbel_hard(logits: torch.Tensor, tau: float, generator: torch.Generator | None) -> torch.Tensor:
    """One-hot rows sampled by Gumbel-softmax at temperature `tau`, with straight-through gradients."""
    uniform = torch.rand(logits.shape, generator=generator, dtype=torch.float32).to(logits.device)
    gumbel = -torch.log(-torch.log(uniform.clamp(1e-10, 1.0 - 1e-7)))
    soft = torch.softmax((torch.log_softmax(logits, dim=-1) + gumbel) / tau, dim=-1)
    hard = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
    return hard - soft.detach() + soft


class Mixing(ABC):
    """The base: how a supernet's edges combine their candidates when no architecture is given."""

    name = ""
    partial = 1           # candidates see 1/partial of an edge's channels
    edge_weights = False  # the supernet holds beta_<group>: per-edge weights normalised over each node's edges
    samples_on_host = False  # each forward draws its path on the host: not one computation a graph could replay
    tau = 1.0             # a sampling mixing's temperature (the strategy anneals it)
    generator: torch.Generator | None = None  # ... and its random stream (the strategy seeds it each epoch)

    def weights(self, alpha: torch.Tensor) -> torch.Tensor:
        """How strongly each candidate is weighted (rows x candidates): the architecture weights that
        are plotted, derived from and put into expected costs. Softmax over a row's candidates."""
        return torch.softmax(alpha, dim=-1)

    @abstractmethod
    def plan(self, alpha: torch.Tensor, edge_weights: torch.Tensor, training: bool) -> list[EdgeStep]:
        """One EdgeStep per row of `alpha` (rows x candidates); `edge_weights` per row (ones unless
        `edge_weights`)."""

    def describe(self) -> str:
        return self.name


class Softmax(Mixing):
    """DARTS: every candidate, weighted by softmax(alpha)."""

    name = "darts"

    def plan(self, alpha: torch.Tensor, edge_weights: torch.Tensor, training: bool) -> list[EdgeStep]:
        return mixture_steps(torch.softmax(alpha, dim=-1))


class PartialChannels(Mixing):
    """PC-DARTS: the softmax mixture on 1/k of the channels, edges normalised by beta."""

    name = "pcdarts"
    edge_weights = True

    def __init__(self, k: int) -> None:
        if k < 1:
            raise ValueError(f"partial channels k must be at least 1, got {k}")
        self.partial = k

    def plan(self, alpha: torch.Tensor, edge_weights: torch.Tensor, training: bool) -> list[EdgeStep]:
        return mixture_steps(torch.softmax(alpha, dim=-1), edge_weights.unbind(0))

    def describe(self) -> str:
        return f"pcdarts (k={self.partial})"


class Gumbel(Mixing):
    """GDAS: one candidate per edge, sampled by hard Gumbel-softmax at temperature `tau` from
    `generator` (the strategy anneals tau and seeds the generator each epoch)."""

    name = "gdas"
    samples_on_host = True

    def __init__(self, tau: float = 1.0) -> None:
        self.tau = tau

    def plan(self, alpha: torch.Tensor, edge_weights: torch.Tensor, training: bool) -> list[EdgeStep]:
        if training:
            hard = gumbel_hard(alpha, self.tau, self.generator)
        else:  # evaluation: the derived (argmax) path, deterministic
            hard = torch.zeros_like(alpha).scatter_(-1, alpha.argmax(-1, keepdim=True), 1.0)
        index = hard.argmax(-1).tolist()
        return [EdgeStep(index=k, scale=hard[e, k]) for e, k in enumerate(index)]


class Sigmoid(Mixing):
    """FairDARTS: every candidate weighted by sigmoid(alpha), each on its own (no softmax race)."""

    name = "fairdarts"

    def weights(self, alpha: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(alpha)

    def plan(self, alpha: torch.Tensor, edge_weights: torch.Tensor, training: bool) -> list[EdgeStep]:
        return mixture_steps(torch.sigmoid(alpha))


class SinglePath(Mixing):
    """SPOS, ENAS: no mixture; every forward runs the ops of one architecture."""

    name = "single_path"

    def plan(self, alpha: torch.Tensor, edge_weights: torch.Tensor, training: bool) -> list[EdgeStep]:
        raise ValueError("a single-path supernet runs one architecture: call supernet(x, arch=arch)")
