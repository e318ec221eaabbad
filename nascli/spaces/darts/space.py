"""The DARTS cell space (Liu et al., ICLR 2019): a normal and a reduction cell, each of `steps` nodes
that take two distinct earlier states through one of 7 ops; networks are the paper's NetworkCIFAR.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from nascli.errors import ConfigError, GenotypeError
from nascli.registry import SPACES
from nascli.spaces.base import MAX_CHANNELS, MAX_DEPTH, Choice, CostUnit, SearchSpace, check_sizes
from nascli.spaces.darts import costs, genotype
from nascli.spaces.darts.genotype import CELLS, GENOTYPE_OPS, PUBLISHED, Genotype
from nascli.spaces.darts.network import DartsNetwork
from nascli.spaces.darts.supernet import DartsSupernet
from nascli.spaces.supernet import Supernet, check_mode, edge_offsets


@SPACES.register("darts")
class DartsSpace(SearchSpace):
    """The DARTS space; genes per cell and node: [op_a, input_a, op_b, input_b], inputs distinct."""

    published = PUBLISHED

    def __init__(self, channels: int, layers: int, auxiliary: bool, drop_path: float, steps: int,
                 multiplier: int, stem_multiplier: int) -> None:
        if min(channels, layers, steps, stem_multiplier) < 1 or not 1 <= multiplier <= steps:
            raise ConfigError(
                "darts needs channels, layers, steps, stem_multiplier >= 1 and 1 <= multiplier <= steps, "
                f"got {channels}, {layers}, {steps}, {stem_multiplier} and multiplier {multiplier}."
            )
        check_sizes("darts", channels=(channels, MAX_CHANNELS), layers=(layers, MAX_DEPTH), steps=(steps, 16),
                    stem_multiplier=(stem_multiplier, 16))
        if not 0.0 <= drop_path < 1.0:
            raise ConfigError(f"darts drop_path must be in [0, 1), got {drop_path}.")
        self.channels, self.layers, self.auxiliary, self.drop_path = channels, layers, auxiliary, drop_path
        self.steps, self.multiplier, self.stem_multiplier = steps, multiplier, stem_multiplier
        self.concat: tuple[int, ...] = tuple(range(2 + steps - multiplier, 2 + steps))

    def config(self) -> dict[str, Any]:
        return {"channels": self.channels, "layers": self.layers, "auxiliary": self.auxiliary,
                "drop_path": self.drop_path, "steps": self.steps, "multiplier": self.multiplier,
                "stem_multiplier": self.stem_multiplier}

    # --- cost by the piece -----------------------------------------------------------------------
    def cost_units(self, num_classes: int, in_channels: int, input_size: int) -> list[CostUnit]:
        return costs.cost_units(self.channels, self.layers, self.steps, self.multiplier, self.stem_multiplier,
                                num_classes, in_channels, input_size)

    def chosen(self, arch: Genotype) -> set[Choice]:
        arch, offsets = self.validate(arch), edge_offsets(2, self.steps)
        return {(cell, offsets[k // 2] + src, op)
                for cell, pairs in zip(CELLS, (arch.normal, arch.reduce)) for k, (op, src) in enumerate(pairs)}

    def smallest(self) -> Genotype:
        """Every node max-pools its two cell inputs: no weights, little work."""
        pairs = tuple(pair for _ in range(self.steps) for pair in (("max_pool_3x3", 0), ("max_pool_3x3", 1)))
        return Genotype(pairs, self.concat, pairs, self.concat)

    # --- genes -----------------------------------------------------------------------------------
    def cardinalities(self) -> list[int]:
        ops = len(GENOTYPE_OPS)
        return [c for _ in CELLS for node in range(self.steps) for c in (ops, node + 2, ops, node + 2)]

    def is_valid(self, genes: Sequence[int]) -> bool:
        """In range, and the two inputs of every node distinct."""
        return super().is_valid(genes) and all(genes[k + 1] != genes[k + 3] for k in range(0, len(genes), 4))

    def encode(self, arch: Genotype) -> list[int]:
        arch = self.validate(arch)
        return [gene for op, src in arch.normal + arch.reduce for gene in (GENOTYPE_OPS.index(op), src)]

    def decode(self, genes: Sequence[int]) -> Genotype:
        if not self.is_valid(genes):
            raise GenotypeError(
                f"Invalid DARTS genes {list(genes)}: need {len(self.cardinalities())} values, per node "
                f"[op_a, input_a, op_b, input_b] with ops in 0..{len(GENOTYPE_OPS) - 1} "
                "and two distinct inputs among the earlier states."
            )
        pairs = [(GENOTYPE_OPS[genes[k]], genes[k + 1]) for k in range(0, len(genes), 2)]
        half = 2 * self.steps
        return Genotype(tuple(pairs[:half]), self.concat, tuple(pairs[half:]), self.concat)

    def validate(self, arch: Any) -> Genotype:
        return genotype.validate(arch, self.steps, self.concat)

    # --- text and JSON ---------------------------------------------------------------------------
    def to_str(self, arch: Genotype) -> str:
        return genotype.format(self.validate(arch))

    def from_str(self, text: str) -> Genotype:
        return self.validate(genotype.parse(text))

    def to_json(self, arch: Genotype) -> dict[str, list]:
        arch = self.validate(arch)
        return {"normal": [list(pair) for pair in arch.normal], "normal_concat": list(arch.normal_concat),
                "reduce": [list(pair) for pair in arch.reduce], "reduce_concat": list(arch.reduce_concat)}

    def from_json(self, obj: Any) -> Genotype:
        if not isinstance(obj, dict) or set(obj) != set(Genotype._fields):
            raise GenotypeError(
                f"A DARTS arch in JSON is an object with exactly the keys {', '.join(Genotype._fields)}, got {obj!r}."
            )
        return self.validate(Genotype(**obj))

    # --- networks --------------------------------------------------------------------------------
    def build_network(self, arch: Genotype, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        """NetworkCIFAR for `arch`, sized by this space's channels, layers and auxiliary settings."""
        if input_size < 1:
            raise ConfigError(f"darts networks need a positive input size, got {input_size}.")
        return DartsNetwork(self.validate(arch), self.channels, self.layers, num_classes, in_channels, input_size,
                            self.auxiliary, self.drop_path, self.stem_multiplier)

    def build_supernet(
        self, num_classes: int, in_channels: int, input_size: int, mode: str = "darts",
        channels: int | None = None, layers: int | None = None, partial_channels: int = 4,
    ) -> Supernet:
        """The weight-sharing search network (modes: see nascli.spaces.supernet), sized by `channels`
        and `layers` (default: this space's); `partial_channels` is PC-DARTS' K."""
        channels = self.channels if channels is None else int(channels)
        layers = self.layers if layers is None else int(layers)
        if min(channels, layers, input_size, partial_channels) < 1:
            raise ConfigError(f"a darts supernet needs positive channels, layers, input size and "
                              f"partial_channels, got {channels}, {layers}, {input_size} and {partial_channels}.")
        partial = int(partial_channels) if mode == "pcdarts" else 1
        if channels % partial:
            raise ConfigError(f"pcdarts needs partial_channels (K={partial}) to divide channels ({channels}).")
        return DartsSupernet(num_classes, in_channels, channels, layers, self.steps, self.multiplier,
                             self.stem_multiplier, check_mode(mode), partial)
