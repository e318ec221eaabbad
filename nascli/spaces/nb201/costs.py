"""The pieces of a NAS-Bench-201 network at the inputs they see, for latency tables: the stem, every
cell edge with each candidate op, the two ResNet reduction blocks, and the head."""

from __future__ import annotations

import torch
from torch import nn

from nascli.spaces.base import CostUnit
from nascli.spaces.nb201.genotype import EDGES, NUM_NODES, OP_NAMES
from nascli.spaces.ops import NB201_OPS, ResNetBasicBlock


def head(channels: int, num_classes: int) -> nn.Module:
    """What follows the last cell: BN and ReLU, global pooling, the classifier."""
    return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(channels, num_classes))


class CellSums(nn.Module):
    """What a cell does besides its ops: node j sums its j inputs (Python's sum, from 0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in range(1, NUM_NODES):
            nodes.append(sum(nodes[-1] for _ in range(node)))
        return nodes[-1]


def cost_units(channels: int, cells_per_stage: int, num_classes: int, in_channels: int,
               input_size: int) -> list[CostUnit]:
    """Stem, then per stage (C, 2C, 4C; the size halving at each ResNet block) each cell's 6 edges
    with every op, then the head."""
    units = [CostUnit(f"nb201/stem/{in_channels}-{channels}/{input_size}", (in_channels, input_size, input_size),
                      lambda: nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
                                            nn.BatchNorm2d(channels)))]
    size = input_size
    for stage in range(3):
        width = channels * 2**stage
        if stage > 0:
            units.append(CostUnit(f"nb201/resblock/{width // 2}-{width}/{size}", (width // 2, size, size),
                                  lambda w=width: ResNetBasicBlock(w // 2, w, stride=2)))
            size = (size + 1) // 2
        for _ in range(cells_per_stage):
            units.append(CostUnit(f"nb201/cell_sums/{width}/{size}", (width, size, size), CellSums))
            for edge in range(len(EDGES)):
                units.extend(CostUnit(f"nb201/{op}/{width}/{size}", (width, size, size),
                                      lambda op=op, w=width: NB201_OPS[op](w, w, 1, True), ("cell", edge, op))
                             for op in OP_NAMES)
    last = 4 * channels
    units.append(CostUnit(f"nb201/head/{last}-{num_classes}/{size}", (last, size, size),
                          lambda: head(last, num_classes)))
    return units
