"""A search space restricted to a finite set of its architectures, e.g. those a benchmark table holds.

Strategies search it through the same gene interface: sample() draws from the set uniformly;
mutate() is the base space's one-gene mutation projected onto the set (the nearest member of the
mutated genes, so a neighbour at distance 1 when the set holds it, else one close in that direction);
is_valid() is membership (of the architecture the genes decode to), so crossover and per-gene mutation stay inside it. Everything else is the
wrapped space's.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from nascli.errors import ConfigError, GenotypeError
from nascli.spaces.base import Arch, Choice, CostUnit, SearchSpace


class SubsetSpace(SearchSpace):
    """`base` limited to `archs` (kept in the given order, duplicates dropped)."""

    def __init__(self, base: SearchSpace, archs: Iterable[Arch], what: str = "the subset") -> None:
        self.base, self.what = base, what
        self.name, self.published, self.needs_input = base.name, base.published, base.needs_input
        self.archs: list[Arch] = list(dict.fromkeys(archs))
        if not self.archs:
            raise ConfigError(f"Cannot restrict the {base.name} space to {what}: it holds no architecture.")
        self.genes = np.array([base.encode(a) for a in self.archs], dtype=np.int64)
        self._members = {tuple(g) for g in self.genes.tolist()}
        self._row = {arch: i for i, arch in enumerate(self.archs)}

    def __len__(self) -> int:
        return len(self.archs)

    # --- genes ---------------------------------------------------------------------------------
    def cardinalities(self) -> list[int]:
        return self.base.cardinalities()

    def encode(self, arch: Arch) -> list[int]:
        return self.base.encode(arch)

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

    # --- everything else is the base space's ---------------------------------------------------------
    def features(self, arch: Arch) -> list[int]:
        return self.base.features(arch)

    def to_str(self, arch: Arch) -> str:
        return self.base.to_str(arch)

    def from_str(self, text: str) -> Arch:
        return self.base.from_str(text)

    def to_json(self, arch: Arch) -> Any:
        return self.base.to_json(arch)

    def from_json(self, obj: Any) -> Arch:
        return self.base.from_json(obj)

    def validate(self, arch: Any) -> Arch:
        return self.base.validate(arch)

    def build_network(self, arch: Arch, num_classes: int, in_channels: int, input_size: int):
        return self.base.build_network(arch, num_classes, in_channels, input_size)

    def build_supernet(self, *args: Any, **kwargs: Any):
        return self.base.build_supernet(*args, **kwargs)

    def cost_units(self, num_classes: int, in_channels: int, input_size: int) -> list[CostUnit]:
        return self.base.cost_units(num_classes, in_channels, input_size)

    def chosen(self, arch: Arch) -> set[Choice]:
        return self.base.chosen(arch)

    def smallest(self) -> Arch | None:
        return self.base.smallest()

    def config(self) -> dict[str, Any]:
        return self.base.config()

    def for_input(self, num_classes: int, in_channels: int, input_size: int) -> SearchSpace:
        return SubsetSpace(self.base.for_input(num_classes, in_channels, input_size), self.archs, self.what)
