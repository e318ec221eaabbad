"""The weights a MobileNet slot's candidates share in a supernet: one elastic MBConv per slot.

Weights are shared within a slot as once-for-all does (Cai et al., ICLR 2020) and Single-Path NAS
(Stamoulis et al., 2019): one block of the largest kernel and expansion, a smaller kernel its
centre, a smaller expansion its first channels, SE its own pair of 1x1 convolutions. (OFA's kernel
transformation matrices are left out.) `skip_connect` (a slot beyond its stage's depth) passes its
input on. How the candidates are mixed (softmax, Gumbel sample, a single path) is the strategy's:
nascli.weight_sharing runs `run(x, op)` or `mixture(x, ops, weights)` as its mixing says.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from nascli.spaces.mobilenet.genotype import SKIP, Choices, parse_op
from nascli.spaces.mobilenet.skeleton import Slot, squeeze_channels


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
    slices of its weights; the same function as outline.MBConv with those weights (candidate_state)."""

    def __init__(self, slot: Slot, choices: Choices, activation: str) -> None:
        super().__init__()
        self.c_in, self.stride = slot.c_in, slot.stride
        self.blocks = {op: parse_op(op) for op in choices.ops}  # a plain dict: no module, no state
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

    def run(self, x: torch.Tensor, op: str) -> torch.Tensor:
        """Candidate `op` on the shared weights (skip_connect: the input itself)."""
        if op == SKIP:
            return x
        block = self.blocks[op]
        mid = self.c_in * block.expansion
        return self._tail(x, self._depthwise(self._expand(x, mid), block.kernel, mid), block.se, mid)

    def candidate_state(self, op: str) -> dict[str, torch.Tensor]:
        """The weights candidate `op` runs on, as the state_dict of its own MBConv (outline.MBConv):
        its slices of the shared convolutions, BatchNorms (statistics included) and SE."""
        block = self.blocks[op]
        mid, k = self.c_in * block.expansion, block.kernel
        start = (self.max_kernel - k) // 2
        state = {"expand.0.weight": self.expand.weight[:mid],
                 "depthwise.0.weight": self.depthwise.weight[:mid, :, start:start + k, start:start + k],
                 "project.0.weight": self.project.weight[:, :mid]}
        for name, bn, n in (("expand.1", self.expand_bn, mid), ("depthwise.1", self.depthwise_bn, mid),
                            ("project.1", self.project_bn, self.project_bn.num_features)):
            for key in ("weight", "bias", "running_mean", "running_var"):
                state[f"{name}.{key}"] = getattr(bn, key)[:n]
            state[f"{name}.num_batches_tracked"] = bn.num_batches_tracked
        if block.se:
            sq = squeeze_channels(mid)
            state.update({"se.reduce.weight": self.se_reduce.weight[:sq, :mid], "se.reduce.bias": self.se_reduce.bias[:sq],
                          "se.expand.weight": self.se_expand.weight[:mid, :sq], "se.expand.bias": self.se_expand.bias[:mid]})
        return {key: value.detach().clone() for key, value in state.items()}

    def mixture(self, x: torch.Tensor, ops: Sequence[str], weights: Sequence[torch.Tensor]) -> torch.Tensor:
        """sum_i weights[i] * self.run(x, ops[i]), computing each expansion and each (expansion,
        kernel) pair's depthwise output once: they do not depend on the later choices."""
        expanded: dict[int, torch.Tensor] = {}
        spatial: dict[tuple[int, int], torch.Tensor] = {}
        out = None
        skip = None
        for op, weight in zip(ops, weights):
            if op == SKIP:
                skip = weight
                continue
            block = self.blocks[op]
            mid = self.c_in * block.expansion
            if mid not in expanded:
                expanded[mid] = self._expand(x, mid)
            if (mid, block.kernel) not in spatial:
                spatial[mid, block.kernel] = self._depthwise(expanded[mid], block.kernel, mid)
            term = weight * self._tail(x, spatial[mid, block.kernel], block.se, mid)
            out = term if out is None else out + term
        return out if skip is None else out + skip * x

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
