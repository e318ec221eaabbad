"""An MBConv macro space in the style of ProxylessNAS (Cai et al., ICLR 2019), FBNet (Wu et al.,
CVPR 2019) and once-for-all (Cai et al., ICLR 2020): a fixed skeleton of stages, each of a searched
depth, each block of a searched kernel size, expansion ratio and squeeze-excitation.

Genes, per stage: its depth (minus the least), then for every block slot, used or not (as
once-for-all encodes them): kernel, expansion, SE, as indices into the space's choices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from nascli.errors import ConfigError, GenotypeError
from nascli.registry import SPACES
from nascli.spaces.base import MAX_CHANNELS, MAX_DEPTH, Choice, CostUnit, SearchSpace, check_sizes
from nascli.spaces.mobilenet import costs, genotype
from nascli.spaces.mobilenet.genotype import PUBLISHED, SKIP, Block, Choices, MobileNetArch
from nascli.spaces.mobilenet.network import ACTIVATIONS, MobileNetNetwork, Skeleton
from nascli.spaces.mobilenet.supernet import MobileNetSupernet
from nascli.spaces.supernet import Supernet, check_mode


@SPACES.register("mobilenet")
class MobileNetSpace(SearchSpace):
    """The MobileNet space; widths are multiples of `channels` (C), rounded to whole channels."""

    published = PUBLISHED

    def __init__(self, channels: int, stem_width: float, stem_stride: int, widths: list[float], strides: list[int],
                 min_depths: list[int], max_depths: list[int], kernels: list[int], expansions: list[int],
                 se: list[bool], head_width: float, activation: str, dropout: float) -> None:
        stages = len(widths)
        if not stages or not len(strides) == len(min_depths) == len(max_depths) == stages:
            raise ConfigError(f"mobilenet needs widths, strides, min_depths and max_depths of one length (the "
                              f"stages), got {len(widths)}, {len(strides)}, {len(min_depths)} and {len(max_depths)}.")
        if channels < 1 or min(stem_width, head_width, *widths) <= 0:
            raise ConfigError("mobilenet needs channels >= 1 and positive stem_width, widths and head_width.")
        check_sizes("mobilenet", channels=(channels * max(stem_width, head_width, *widths), MAX_CHANNELS * 4),
                    stages=(stages, 64), max_depths=(max(max_depths, default=1), MAX_DEPTH),
                    kernels=(max(kernels, default=1), 31), expansions=(max(expansions, default=1), 32))
        if any(s not in (1, 2) for s in (stem_stride, *strides)):
            raise ConfigError(f"mobilenet strides must be 1 or 2, got stem_stride {stem_stride} and {list(strides)}.")
        if not all(1 <= low <= high for low, high in zip(min_depths, max_depths)):
            raise ConfigError(f"mobilenet needs 1 <= min_depths <= max_depths per stage (a stage's first block "
                              f"changes its width), got {list(min_depths)} and {list(max_depths)}.")
        for name, values, ok in (("kernels", kernels, lambda k: k >= 1 and k % 2 == 1),
                                 ("expansions", expansions, lambda e: e >= 1), ("se", se, lambda s: True)):
            if not values or len(set(values)) != len(values) or not all(map(ok, values)):
                raise ConfigError(f"mobilenet {name} must be distinct, non-empty (kernels odd, expansions >= 1), "
                                  f"got {list(values)}.")
        if activation not in ACTIVATIONS:
            raise ConfigError(f"mobilenet activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"mobilenet dropout must be in [0, 1), got {dropout}.")
        self.channels, self.stem_width, self.stem_stride = channels, float(stem_width), stem_stride
        self.widths, self.strides = [float(w) for w in widths], list(strides)
        self.min_depths, self.max_depths = list(min_depths), list(max_depths)
        self.kernels, self.expansions, self.se = list(kernels), list(expansions), [bool(s) for s in se]
        self.head_width, self.activation, self.dropout = float(head_width), activation, dropout
        self.choices = Choices(tuple(kernels), tuple(expansions), tuple(self.se), tuple(min_depths), tuple(max_depths))

    def config(self) -> dict[str, Any]:
        return {"channels": self.channels, "stem_width": self.stem_width, "stem_stride": self.stem_stride,
                "widths": list(self.widths), "strides": list(self.strides), "min_depths": list(self.min_depths),
                "max_depths": list(self.max_depths), "kernels": list(self.kernels),
                "expansions": list(self.expansions), "se": list(self.se), "head_width": self.head_width,
                "activation": self.activation, "dropout": self.dropout}

    def skeleton(self, channels: int | None = None) -> Skeleton:
        """The skeleton in channels for C = `channels` (default: this space's)."""
        c = self.channels if channels is None else channels

        def width(multiple: float) -> int:
            return max(1, int(multiple * c + 0.5))

        return Skeleton(width(self.stem_width), c, self.stem_stride, tuple(map(width, self.widths)),
                        tuple(self.strides), tuple(self.max_depths), width(self.head_width), self.activation,
                        self.dropout)

    # --- cost by the piece -----------------------------------------------------------------------
    def cost_units(self, num_classes: int, in_channels: int, input_size: int) -> list[CostUnit]:
        return costs.cost_units(self.skeleton(), self.choices, num_classes, in_channels, input_size)

    def chosen(self, arch: MobileNetArch) -> set[Choice]:
        arch, slots = self.validate(arch), self.skeleton().all_slots()
        return {(f"b{s.index}", 0, arch.blocks[s.stage][s.position].op if s.position < arch.depths[s.stage] else SKIP)
                for s in slots}

    def smallest(self) -> MobileNetArch:
        """Least depths, and every block of the smallest kernel and expansion, without SE if it may."""
        block = Block(min(self.kernels), min(self.expansions), min(self.se))
        return MobileNetArch(tuple(self.min_depths), tuple((block,) * slots for slots in self.max_depths))

    # --- genes -----------------------------------------------------------------------------------
    def cardinalities(self) -> list[int]:
        per_slot = [len(self.kernels), len(self.expansions), len(self.se)]
        return [c for low, high in zip(self.min_depths, self.max_depths) for c in [high - low + 1, *per_slot * high]]

    def encode(self, arch: MobileNetArch) -> list[int]:
        arch = self.validate(arch)
        genes = []
        for low, depth, stage in zip(self.min_depths, arch.depths, arch.blocks):
            genes.append(depth - low)
            for block in stage:
                genes += [self.kernels.index(block.kernel), self.expansions.index(block.expansion),
                          self.se.index(block.se)]
        return genes

    def decode(self, genes: Sequence[int]) -> MobileNetArch:
        if not self.is_valid(genes):
            raise GenotypeError(
                f"Invalid MobileNet genes {list(genes)}: need {len(self.cardinalities())} values, per stage its depth "
                f"index, then per slot kernel, expansion and SE indices, each below {self.cardinalities()}.")
        genes, depths, blocks = list(genes), [], []
        for low, slots in zip(self.min_depths, self.max_depths):
            depths.append(low + genes.pop(0))
            blocks.append(tuple(Block(self.kernels[genes.pop(0)], self.expansions[genes.pop(0)], self.se[genes.pop(0)])
                                for _ in range(slots)))
        return MobileNetArch(tuple(depths), tuple(blocks))

    def validate(self, arch: Any) -> MobileNetArch:
        return self.choices.validate(arch)

    # --- text and JSON ---------------------------------------------------------------------------
    def to_str(self, arch: MobileNetArch) -> str:
        return genotype.format(self.validate(arch))

    def from_str(self, text: str) -> MobileNetArch:
        return self.validate(genotype.parse(text))

    def to_json(self, arch: MobileNetArch) -> dict[str, list]:
        return genotype.to_json(self.validate(arch))

    def from_json(self, obj: Any) -> MobileNetArch:
        return self.validate(genotype.from_json(obj))

    # --- networks --------------------------------------------------------------------------------
    def build_network(self, arch: MobileNetArch, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        """The network of `arch` at this space's widths; any input size >= 1 works (strides round up)."""
        if input_size < 1:
            raise ConfigError(f"mobilenet networks need a positive input size, got {input_size}.")
        return MobileNetNetwork(self.validate(arch), self.skeleton(), num_classes, in_channels)

    def build_supernet(
        self, num_classes: int, in_channels: int, input_size: int, mode: str = "darts",
        channels: int | None = None, layers: int | None = None, partial_channels: int = 4,
    ) -> Supernet:
        """The skeleton with an elastic MBConv per slot (modes darts, gdas, single_path: see
        nascli.spaces.supernet), widths from C = `channels` (default: this space's). `layers` is
        ignored: depth is searched, up to max_depths. There is no pcdarts mode."""
        if mode == "pcdarts":
            raise ConfigError("The mobilenet space has no pcdarts supernet (partial channels would split its "
                              "elastic blocks); search it with strategy=gdas, darts, spos or a sample-based strategy.")
        channels = self.channels if channels is None else int(channels)
        if min(channels, input_size) < 1:
            raise ConfigError(f"a mobilenet supernet needs positive channels and input size, got {channels} "
                              f"and {input_size}.")
        return MobileNetSupernet(self.skeleton(channels), self.choices, num_classes, in_channels, check_mode(mode))
