"""The MobileNet weight-sharing supernet: the skeleton with one elastic MBConv per block slot, each
slot a group of its own (`alpha_b<i>`, one row) over every block op and `skip_connect`.

Weights are shared within a slot as once-for-all does (Cai et al., ICLR 2020) and Single-Path NAS
(Stamoulis et al., 2019): one block of the largest kernel and expansion, a smaller kernel its
centre, a smaller expansion its first channels, SE its own pair of 1x1 convolutions. (OFA's kernel
transformation matrices are left out.) `skip_connect` is a slot beyond its stage's depth; a slot
the depth always keeps (the first of a stage changes width and stride) cannot be skipped: its skip
logit is held at MASKED, which no softmax, Gumbel sample or derivation picks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from nascli.spaces.mobilenet.genotype import SKIP, Block, Choices, MobileNetArch, parse_op
from nascli.spaces.mobilenet.network import Head, Skeleton, Slot, Stem, squeeze_channels
from nascli.spaces.supernet import EdgeStep, Supernet

MASKED = -1.0e4  # the skip logit of a slot that cannot be skipped: softmax weight exactly 0 in float32
LOG_FLOOR = -30.0  # gene_prior_logits: the least log-probability given to a possible op


def _batch_norm(x: torch.Tensor, bn: nn.BatchNorm2d, channels: int) -> torch.Tensor:
    """bn on the first `channels` of its channels: their slice of the statistics is used and
    updated as nn.BatchNorm2d would (momentum None: the cumulative average SPOS recalibrates with)."""
    factor = 0.0
    if bn.training and bn.track_running_stats:
        bn.num_batches_tracked.add_(1)
        factor = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
    keep = not bn.training or bn.track_running_stats
    return F.batch_norm(x, bn.running_mean[:channels] if keep else None, bn.running_var[:channels] if keep else None,
                        bn.weight[:channels], bn.bias[:channels], bn.training, factor, bn.eps)


class ElasticMBConv(nn.Module):
    """An MBConv of the largest kernel and expansion (and an SE) that runs any smaller block on
    slices of its weights; the same function as network.MBConv with those weights."""

    def __init__(self, slot: Slot, choices: Choices, activation: str) -> None:
        super().__init__()
        self.c_in, self.stride = slot.c_in, slot.stride
        self.max_kernel, mid = max(choices.kernels), slot.c_in * max(choices.expansions)
        self.residual = slot.stride == 1 and slot.c_in == slot.c_out
        self.act = {"relu6": F.relu6, "hswish": F.hardswish}[activation]
        self.expand, self.expand_bn = nn.Conv2d(slot.c_in, mid, 1, bias=False), nn.BatchNorm2d(mid)
        self.depthwise = nn.Conv2d(mid, mid, self.max_kernel, groups=mid, bias=False)
        self.depthwise_bn = nn.BatchNorm2d(mid)
        if True in choices.se:
            self.se_reduce = nn.Conv2d(mid, squeeze_channels(mid), 1)
            self.se_expand = nn.Conv2d(squeeze_channels(mid), mid, 1)
        self.project, self.project_bn = nn.Conv2d(mid, slot.c_out, 1, bias=False), nn.BatchNorm2d(slot.c_out)

    def forward(self, x: torch.Tensor, block: Block) -> torch.Tensor:
        mid = self.c_in * block.expansion
        return self._tail(x, self._depthwise(self._expand(x, mid), block.kernel, mid), block.se, mid)

    def mixture(self, x: torch.Tensor, blocks: Sequence[Block], weights: Sequence[torch.Tensor]) -> torch.Tensor:
        """sum_i weights[i] * self(x, blocks[i]), computing each expansion and each (expansion,
        kernel) pair's depthwise output once: they do not depend on the later choices."""
        expanded: dict[int, torch.Tensor] = {}
        spatial: dict[tuple[int, int], torch.Tensor] = {}
        out = None
        for block, weight in zip(blocks, weights):
            mid = self.c_in * block.expansion
            if mid not in expanded:
                expanded[mid] = self._expand(x, mid)
            if (mid, block.kernel) not in spatial:
                spatial[mid, block.kernel] = self._depthwise(expanded[mid], block.kernel, mid)
            term = weight * self._tail(x, spatial[mid, block.kernel], block.se, mid)
            out = term if out is None else out + term
        return out

    def _expand(self, x: torch.Tensor, mid: int) -> torch.Tensor:
        return self.act(_batch_norm(F.conv2d(x, self.expand.weight[:mid]), self.expand_bn, mid))

    def _depthwise(self, h: torch.Tensor, k: int, mid: int) -> torch.Tensor:
        start = (self.max_kernel - k) // 2
        kernel = self.depthwise.weight[:mid, :, start:start + k, start:start + k]
        return self.act(_batch_norm(F.conv2d(h, kernel, None, self.stride, k // 2, 1, mid), self.depthwise_bn, mid))

    def _tail(self, x: torch.Tensor, h: torch.Tensor, se: bool, mid: int) -> torch.Tensor:
        """SE (if chosen), the projection, and the residual."""
        if se:
            sq = squeeze_channels(mid)
            s = F.conv2d(h.mean((2, 3), keepdim=True), self.se_reduce.weight[:sq, :mid], self.se_reduce.bias[:sq])
            h = h * F.hardsigmoid(F.conv2d(torch.relu(s), self.se_expand.weight[:mid, :sq], self.se_expand.bias[:mid]))
        out = _batch_norm(F.conv2d(h, self.project.weight[:, :mid]), self.project_bn, self.project_bn.num_features)
        return x + out if self.residual else out


class MobileNetSupernet(Supernet):
    """Stem, an ElasticMBConv per block slot, head; group b<i> chooses slot i's op (one row)."""

    num_inputs = 1
    steps = 1

    def __init__(self, skeleton: Skeleton, choices: Choices, num_classes: int, in_channels: int, mode: str) -> None:
        super().__init__(mode)
        self.choices, self.slots = choices, skeleton.all_slots()
        self.blocks = [parse_op(op) for op in choices.ops]
        self.op_names = (*choices.ops, SKIP)
        self.skip = len(self.op_names) - 1
        self.cell_types = tuple(f"b{slot.index}" for slot in self.slots)
        # a slot within its stage's least depth always runs: no skip
        self.mandatory = [slot.position < choices.min_depths[slot.stage] for slot in self.slots]
        self.stem = Stem(in_channels, skeleton)
        self.layers = nn.ModuleList(ElasticMBConv(slot, choices, skeleton.activation) for slot in self.slots)
        self.head = Head(skeleton.widths[-1], skeleton, num_classes)
        self._init_arch()
        with torch.no_grad():
            for group, mandatory in zip(self.cell_types, self.mandatory):
                if mandatory:
                    self.alpha(group)[:, self.skip] = MASKED

    # --- forward ------------------------------------------------------------------------------
    def _body(self, x: torch.Tensor, plans: dict[str, Any]) -> torch.Tensor:
        x = self.stem(x)
        for group, layer, mandatory in zip(self.cell_types, self.layers, self.mandatory):
            x = self._slot(x, layer, plans[group][0], mandatory, group)
        return self.head(x)

    def _slot(self, x: torch.Tensor, layer: ElasticMBConv, step: EdgeStep, mandatory: bool, group: str) -> torch.Tensor:
        """One slot: its chosen op (times the straight-through scale), or the weighted mixture of all."""
        if step.index is not None:
            if step.index == self.skip and mandatory:
                raise ValueError(f"slot {group} is within its stage's least depth and cannot be skipped, but its "
                                 f"skip_connect logit was raised from {MASKED} (a prior_strength near 0?)")
            out = x if step.index == self.skip else layer(x, self.blocks[step.index])
            return out if step.scale is None else out * step.scale
        out = layer.mixture(x, self.blocks, step.weights[:self.skip])
        # a slot that always runs has skip weight 0 (MASKED logit), and an identity would not fit its shape
        return out if mandatory else out + step.weights[self.skip] * x

    # --- architectures -----------------------------------------------------------------------------
    def arch_paths(self, arch: MobileNetArch) -> dict[str, list[int | None]]:
        arch = self.choices.validate(arch)
        return {group: [self.op_names.index(op)] for group, op in zip(self.cell_types, self._ops(arch))}

    def cell_ops(self, arch: MobileNetArch) -> dict[str, list[str]]:
        return {group: [op] for group, op in zip(self.cell_types, self._ops(self.choices.validate(arch)))}

    def _ops(self, arch: MobileNetArch) -> list[str]:
        """Every slot's op: its block's, or skip_connect beyond its stage's depth."""
        return [arch.blocks[s.stage][s.position].op if s.position < arch.depths[s.stage] else SKIP
                for s in self.slots]

    def derive(self) -> MobileNetArch:
        """Every slot its strongest block op; each stage's depth runs up to the first optional
        slot whose strongest choice is skip_connect."""
        weights = self.derivation_weights()
        depths = list(self.choices.min_depths)
        blocks: list[list[Block]] = [[] for _ in self.choices.max_depths]
        cut = [False] * len(depths)
        for slot, group, mandatory in zip(self.slots, self.cell_types, self.mandatory):
            row = weights[group][0]
            best = max(range(self.skip), key=lambda k: (row[k], -k))
            blocks[slot.stage].append(self.blocks[best])
            if not mandatory and not cut[slot.stage]:
                if row[self.skip] > row[best]:
                    cut[slot.stage] = True
                else:
                    depths[slot.stage] += 1
        return self.choices.validate((tuple(depths), tuple(tuple(stage) for stage in blocks)))

    def gene_prior_logits(self, gene_log_probs: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Alpha rows matching independent per-gene distributions (the space's gene order: per stage
        its depth, then per slot kernel, expansion, SE): op (k, e, se) of a slot gets log p(k) +
        log p(e) + log p(se) + log P(depth > slot), skip_connect log P(depth <= slot); floored at
        LOG_FLOOR, the skip of a slot that always runs MASKED."""
        logs = [torch.as_tensor(p, dtype=torch.float32) for p in gene_log_probs]
        genes, groups = iter(logs), iter(self.cell_types)
        logits = {}
        for low, high in zip(self.choices.min_depths, self.choices.max_depths):
            depth = next(genes).exp()  # P(depth = low + i)
            for position in range(high):
                kernel, expansion, se = next(genes), next(genes), next(genes)
                used = depth[max(position + 1 - low, 0):].sum().clamp(0.0, 1.0)  # P(depth > position)
                ops = (kernel[:, None, None] + expansion[None, :, None] + se[None, None, :]).flatten()
                row = torch.cat([ops + torch.log(used), torch.log(1.0 - used).reshape(1)]).clamp_min(LOG_FLOOR)
                if position < low:
                    row[self.skip] = MASKED
                logits[next(groups)] = row[None, :]
        return logits
