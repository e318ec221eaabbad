"""The NAS-Bench-201 cell space: one 4-node cell, 6 edges, 5 candidate ops (15,625 architectures).

Genes are the op index of each edge, in the benchmark's edge order; networks and supernets use the
benchmark's macro skeleton, so parameter counts match the NAS-Bench-201 tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from nascli.errors import ConfigError, GenotypeError
from nascli.registry import SPACES
from nascli.spaces.base import MAX_CHANNELS, MAX_DEPTH, Choice, CostUnit, SearchSpace, check_sizes
from nascli.spaces.nb201 import costs, genotype
from nascli.spaces.nb201.genotype import EDGES, OP_NAMES, NB201Arch
from nascli.spaces.nb201.network import NB201Network
from nascli.spaces.nb201.supernet import NB201Supernet
from nascli.spaces.supernet import Supernet, check_mode


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

    # --- cost by the piece -----------------------------------------------------------------------
    def cost_units(self, num_classes: int, in_channels: int, input_size: int) -> list[CostUnit]:
        return costs.cost_units(self.channels, self.cells_per_stage, num_classes, in_channels, input_size)

    def chosen(self, arch: NB201Arch) -> set[Choice]:
        return {("cell", edge, op) for edge, op in enumerate(genotype.validate(arch))}

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
    def build_network(self, arch: NB201Arch, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        """The benchmark network for `arch`; any input_size >= 4 works (the head pools globally)."""
        if input_size < 4:
            raise ConfigError(f"nb201 networks need inputs of at least 4x4 pixels, got {input_size}.")
        return NB201Network(genotype.validate(arch), self.channels, self.cells_per_stage, num_classes, in_channels)

    def build_supernet(
        self, num_classes: int, in_channels: int, input_size: int, mode: str = "darts",
        channels: int | None = None, layers: int | None = None, partial_channels: int = 4,
    ) -> Supernet:
        """The benchmark skeleton with a mixed edge on each of the 6 cell edges (modes: see
        nascli.spaces.supernet). `layers` counts cells including the 2 ResNet reduction blocks,
        3N + 2 as in DARTS' count (17: the benchmark's N=5; default: this space's size)."""
        channels = self.channels if channels is None else int(channels)
        per_stage = self.cells_per_stage if layers is None else (int(layers) - 2) // 3
        if layers is not None and (int(layers) - 2) % 3 or per_stage < 1 or min(channels, input_size) < 1:
            raise ConfigError(f"an nb201 supernet needs channels >= 1 and layers = 3N + 2 (5, 8, 11, 14, 17, ...), "
                              f"got channels {channels} and layers {layers}.")
        partial = int(partial_channels) if mode == "pcdarts" else 1
        if partial < 1 or channels % partial:
            raise ConfigError(f"pcdarts needs partial_channels (K={partial}) to divide channels ({channels}).")
        return NB201Supernet(num_classes, in_channels, channels, per_stage, check_mode(mode), partial)
