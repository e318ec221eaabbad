"""The pieces of a DARTS network (NetworkCIFAR) at the inputs they see, for latency tables: the stem,
each cell's two preprocessing ops, its node sums and output concatenation, every edge with each
candidate op (a reduction cell's edges from its inputs stride 2), and the head. The auxiliary head
runs in training only and is left out."""

from __future__ import annotations

import torch
from torch import nn

from nascli.spaces.base import CostUnit
from nascli.spaces.ops import DARTS_OPS, FactorizedReduce, ReLUConvBN
from nascli.spaces.supernet import edge_offsets


def head(channels: int, num_classes: int) -> nn.Module:
    """Global pooling and the classifier."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


class CellSums(nn.Module):
    """What a cell does besides its ops: each node adds its two inputs, the last nodes are concatenated."""

    def __init__(self, steps: int, multiplier: int) -> None:
        super().__init__()
        self.steps, self.multiplier = steps, multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [x + x for _ in range(self.steps)]
        return torch.cat(states[-self.multiplier:], dim=1)


def cost_units(channels: int, layers: int, steps: int, multiplier: int, stem_multiplier: int, num_classes: int,
               in_channels: int, input_size: int) -> list[CostUnit]:
    """Every piece, cell by cell, with the channels and sizes NetworkCIFAR gives them."""
    c_stem, size = stem_multiplier * channels, input_size
    units = [CostUnit(f"darts/stem/{in_channels}-{c_stem}/{size}", (in_channels, size, size),
                      lambda: nn.Sequential(nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False),
                                            nn.BatchNorm2d(c_stem)))]
    reductions = {layers // 3, 2 * layers // 3}
    s0, s1, c = (c_stem, size), (c_stem, size), channels  # (channels, size) of the two cell inputs
    for i in range(layers):
        reduction, reduction_prev = i in reductions, i - 1 in reductions
        c = 2 * c if reduction else c
        h = s1[1]
        kind, factory = ("factorized_reduce", FactorizedReduce) if reduction_prev else (
            "relu_conv_bn", lambda c_in, c_out: ReLUConvBN(c_in, c_out, 1, 1, 0))
        units.append(CostUnit(f"darts/{kind}/{s0[0]}-{c}/{s0[1]}", (s0[0], s0[1], s0[1]),
                              lambda f=factory, c_in=s0[0], c_out=c: f(c_in, c_out)))
        units.append(CostUnit(f"darts/relu_conv_bn/{s1[0]}-{c}/{h}", (s1[0], h, h),
                              lambda c_in=s1[0], c_out=c: ReLUConvBN(c_in, c_out, 1, 1, 0)))
        out = (h + 1) // 2 if reduction else h
        cell = "reduce" if reduction else "normal"
        units.append(CostUnit(f"darts/cell_sums/{c}x{steps}-{multiplier}/{out}", (c, out, out),
                              lambda: CellSums(steps, multiplier)))
        for node, first in enumerate(edge_offsets(2, steps)):
            for src in range(node + 2):
                stride = 2 if reduction and src < 2 else 1
                size_in = h if src < 2 else out
                units.extend(CostUnit(f"darts/{op}/{c}/s{stride}/{size_in}", (c, size_in, size_in),
                                      lambda op=op, c=c, stride=stride: DARTS_OPS[op](c, c, stride, True),
                                      (cell, first + src, op))
                             for op in DARTS_OPS if op != "none")  # `none` is no op in the network
        s0, s1 = s1, (multiplier * c, out)
    units.append(CostUnit(f"darts/head/{s1[0]}-{num_classes}/{s1[1]}", (s1[0], s1[1], s1[1]),
                          lambda: head(s1[0], num_classes)))
    return units
