"""The NAS-Bench-201 cell space: one 4-node cell, 6 edges, 5 candidate ops (15,625 architectures).

Genes are the op index of each edge, in the benchmark's edge order. The network is written once
(nascli.spaces.nb201.outline): the benchmark's macro skeleton, so parameter counts match the
NAS-Bench-201 tables, with a site per cell edge for networks, supernets and latency tables alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nascli.errors import ConfigError, GenotypeError
from nascli.registry import SPACES
from nascli.spaces.base import MAX_CHANNELS, MAX_DEPTH, SearchSpace, check_sizes
from nascli.spaces.nb201 import genotype
from nascli.spaces.nb201.genotype import EDGES, OP_NAMES, NB201Arch
from nascli.spaces.nb201.outline import NB201Net

if TYPE_CHECKING:
    from torch import nn

    from nascli.spaces.outline import Maker, SiteKey


@SPACES.register("nb201")
class NB201Space(SearchSpace):
    """The NAS-Bench-201 space, its networks sized by `channels` (C) and `cells_per_stage` (N)."""

    def __init__(self, channels: int, cells_per_stage: int) -> None:
        if channels < 1 or cells_per_stage < 1:
            raise ConfigError(
                f"nb201 needs channels >= 1 and cells_per_stage >= 1, got {channels} and {cells_per_stage}."
            )
        check_sizes("nb201", channels=(channels, MAX_CHANNELS), cells_per_stage=(cells_per_stage, MAX_DEPTH))
        self.channels = channels
        self.cells_per_stage = cells_per_stage

    def config(self) -> dict[str, Any]:
        return {"channels": self.channels, "cells_per_stage": self.cells_per_stage}

    def smallest(self) -> NB201Arch:
        """Every edge `none`: the cells hold no weights and do no work."""
        return ("none",) * len(EDGES)

    # --- genes -----------------------------------------------------------------------------------
    def cardinalities(self) -> list[int]:
        return [len(OP_NAMES)] * len(EDGES)

    def encode(self, arch: NB201Arch) -> list[int]:
        return [OP_NAMES.index(op) for op in genotype.validate(arch)]

    def decode(self, genes: Sequence[int]) -> NB201Arch:
        if not self.is_valid(genes):
            raise GenotypeError(
                f"Invalid NAS-Bench-201 genes {list(genes)}: "
                f"need {len(EDGES)} op indices in 0..{len(OP_NAMES) - 1}."
            )
        return tuple(OP_NAMES[g] for g in genes)

    def validate(self, arch: Any) -> NB201Arch:
        return genotype.validate(arch)

    # --- text and JSON ---------------------------------------------------------------------------
    def to_str(self, arch: NB201Arch) -> str:
        return genotype.to_str(arch)

    def from_str(self, text: str) -> NB201Arch:
        return genotype.from_str(text)

    def to_json(self, arch: NB201Arch) -> list[str]:
        return list(genotype.validate(arch))

    def from_json(self, obj: Any) -> NB201Arch:
        if not isinstance(obj, list):
            raise GenotypeError(
                f"A NAS-Bench-201 arch in JSON is a list of {len(EDGES)} op names, got {type(obj).__name__}."
            )
        return genotype.validate(obj)

    # --- networks --------------------------------------------------------------------------------
    def outline(self, make: Maker, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        """The benchmark network with `make(site)` on every cell edge; any input_size >= 4 works (the
        head pools globally)."""
        if input_size < 4:
            raise ConfigError(f"nb201 networks need inputs of at least 4x4 pixels, got {input_size}.")
        return NB201Net(make, self.channels, self.cells_per_stage, num_classes, in_channels)

    def picks(self, arch: NB201Arch) -> dict[SiteKey, str]:
        return {("cell", edge): op for edge, op in enumerate(genotype.validate(arch))}

    def derive(self, weights: dict[str, list[list[float]]]) -> NB201Arch:
        """NAS-Bench-201's rule: the strongest op of every edge, `none` included."""
        return tuple(OP_NAMES[max(range(len(row)), key=lambda k: (row[k], -k))] for row in weights["cell"])

    def alpha_prior(self, gene_log_probs: Sequence[Any]) -> dict[str, Any]:
        """Gene i is edge i's op: the prior's log-probabilities are the rows."""
        import torch

        return {"cell": torch.stack([torch.as_tensor(p, dtype=torch.float32) for p in gene_log_probs])}
