"""A search space restricted to a finite set of its architectures, e.g. those a benchmark table holds.

Strategies search it through the same gene interface: sample() draws from the set uniformly;
mutate() is the base space's one-gene mutation projected onto the set (the nearest member of the
mutated genes, so a neighbour at distance 1 when the set holds it, else one close in that direction);
is_valid() is membership (of the architecture the genes decode to), so crossover and per-gene
mutation stay inside it. Everything else is the wrapped space's (nascli.spaces.view).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

import numpy as np

from nascli.errors import ConfigError, GenotypeError
from nascli.spaces.base import Arch, SearchSpace
from nascli.spaces.view import SpaceView


class SubsetSpace(SpaceView):
    """`base` limited to `archs` (kept in the given order, duplicates dropped)."""

    def __init__(self, base: SearchSpace, archs: Iterable[Arch], what: str = "the subset") -> None:
        super().__init__(base)
        self.what = what
        self.archs: list[Arch] = list(dict.fromkeys(archs))
        if not self.archs:
            raise ConfigError(f"Cannot restrict the {base.name} space to {what}: it holds no architecture.")
        self.genes = np.array([base.encode(a) for a in self.archs], dtype=np.int64)
        self._members = {tuple(g) for g in self.genes.tolist()}
        self._row = {arch: i for i, arch in enumerate(self.archs)}

    def __len__(self) -> int:
        return len(self.archs)

    def over(self, base: SearchSpace) -> SubsetSpace:
        return SubsetSpace(base, self.archs, self.what)

    # --- genes ---------------------------------------------------------------------------------
    def is_valid(self, genes: Sequence[int]) -> bool:
        """Whether the genes are a member's: its own, or any others that decode to it (a space where
        several gene vectors are one architecture, e.g. nb101's relabelled cells)."""
        if tuple(genes) in self._members:
            return True
        return self.base.is_valid(genes) and self.base.decode(genes) in self._row

    def decode(self, genes: Sequence[int]) -> Arch:
        if not self.is_valid(genes):
            raise GenotypeError(f"Genes {list(genes)} are not an architecture of {self.what} "
                                f"({len(self)} architectures of the {self.name} space).")
        return self.base.decode(genes)

    def sample(self, rng: random.Random) -> Arch:
        return self.archs[rng.randrange(len(self.archs))]

    def mutate(self, arch: Arch, rng: random.Random) -> Arch:
        """The base space's one-gene mutation, projected onto the subset: a member nearest (in
        gene-Hamming distance) to the mutated genes, other than `arch`, chosen uniformly. When the
        mutated architecture is a member, that is it (distance 1 from `arch`)."""
        return self.nearest(self.base.encode(self.base.mutate(arch, rng)), rng, exclude=arch)

    def nearest(self, genes: Sequence[int], rng: random.Random, exclude: Arch | None = None) -> Arch:
        """A member at the smallest gene-Hamming distance from `genes` (ties uniformly), not `exclude`."""
        distance = (self.genes != np.asarray(genes)).sum(1)
        if exclude in self._row and len(self.archs) > 1:
            distance[self._row[exclude]] = distance.max() + 1
        candidates = np.flatnonzero(distance == distance.min())
        return self.archs[int(candidates[rng.randrange(len(candidates))])]
