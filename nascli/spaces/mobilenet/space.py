"""An MBConv macro space in the style of ProxylessNAS (Cai et al., ICLR 2019), FBNet (Wu et al.,
CVPR 2019) and once-for-all (Cai et al., ICLR 2020): a fixed skeleton of stages, each of a searched
depth, each block of a searched kernel size, expansion ratio and squeeze-excitation.

Genes, per stage: its depth (minus the least), then for every block slot, used or not (as
once-for-all encodes them): kernel, expansion, SE, as indices into the space's choices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nascli.errors import ConfigError, GenotypeError
from nascli.registry import SPACES
from nascli.spaces.base import MAX_CHANNELS, MAX_DEPTH, SearchSpace, check_sizes
from nascli.spaces.mobilenet import genotype
from nascli.spaces.mobilenet.genotype import PUBLISHED, SKIP, Block, Choices, MobileNetArch
from nascli.spaces.mobilenet.outline import ACTIVATIONS, MobileNetNet
from nascli.spaces.mobilenet.skeleton import Skeleton
from nascli.spaces.outline import MASKED

if TYPE_CHECKING:
    from torch import nn

    from nascli.spaces.outline import Maker, SiteKey

LOG_FLOOR = -30.0  # alpha_prior: the least log-probability given to a possible op


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

    def skeleton(self) -> Skeleton:
        """The skeleton in channels for this space's C."""
        c = self.channels

        def width(multiple: float) -> int:
            return max(1, int(multiple * c + 0.5))

        return Skeleton(width(self.stem_width), c, self.stem_stride, tuple(map(width, self.widths)),
                        tuple(self.strides), tuple(self.max_depths), width(self.head_width), self.activation,
                        self.dropout)

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
    def outline(self, make: Maker, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        """The skeleton at this space's widths with `make(site)` in every block slot; any input size
        >= 1 works (strides round up)."""
        if input_size < 1:
            raise ConfigError(f"mobilenet networks need a positive input size, got {input_size}.")
        return MobileNetNet(make, self.skeleton(), self.choices, num_classes, in_channels)

    def picks(self, arch: MobileNetArch) -> dict[SiteKey, str]:
        """Every slot's block op, or skip_connect beyond its stage's depth."""
        arch = self.validate(arch)
        return {(f"b{s.index}", 0): arch.blocks[s.stage][s.position].op if s.position < arch.depths[s.stage] else SKIP
                for s in self.skeleton().all_slots()}

    def derive(self, weights: dict[str, list[list[float]]]) -> MobileNetArch:
        """Every slot its strongest block op; each stage's depth runs up to the first optional slot
        whose strongest choice is skip_connect."""
        ops = (*self.choices.ops, SKIP)
        skip = len(ops) - 1
        depths = list(self.choices.min_depths)
        blocks: list[list[Block]] = [[] for _ in self.choices.max_depths]
        cut = [False] * len(depths)
        for slot in self.skeleton().all_slots():
            row = weights[f"b{slot.index}"][0]
            best = max(range(skip), key=lambda k: (row[k], -k))
            blocks[slot.stage].append(genotype.parse_op(ops[best]))
            if slot.position >= self.choices.min_depths[slot.stage] and not cut[slot.stage]:
                if row[skip] > row[best]:
                    cut[slot.stage] = True
                else:
                    depths[slot.stage] += 1
        return self.validate((tuple(depths), tuple(tuple(stage) for stage in blocks)))

    def alpha_prior(self, gene_log_probs: Sequence[Any]) -> dict[str, Any]:
        """The space's gene order is, per stage, its depth, then per slot kernel, expansion, SE: op
        (k, e, se) of a slot gets log p(k) + log p(e) + log p(se) + log P(depth > slot), skip_connect
        log P(depth <= slot); floored at LOG_FLOOR, the skip of a slot that always runs MASKED."""
        import torch

        logs = [torch.as_tensor(p, dtype=torch.float32) for p in gene_log_probs]
        genes, slots = iter(logs), iter(self.skeleton().all_slots())
        skip = len(self.choices.ops)
        logits = {}
        for low, high in zip(self.choices.min_depths, self.choices.max_depths):
            depth = next(genes).exp()  # P(depth = low + i)
            for position in range(high):
                kernel, expansion, se = next(genes), next(genes), next(genes)
                used = depth[max(position + 1 - low, 0):].sum().clamp(0.0, 1.0)  # P(depth > position)
                ops = (kernel[:, None, None] + expansion[None, :, None] + se[None, None, :]).flatten()
                row = torch.cat([ops + torch.log(used), torch.log(1.0 - used).reshape(1)]).clamp_min(LOG_FLOOR)
                if position < low:
                    row[skip] = MASKED
                logits[f"b{next(slots).index}"] = row[None, :]
        return logits
