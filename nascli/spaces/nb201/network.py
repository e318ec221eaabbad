"""NAS-Bench-201's network for one cell: its macro skeleton, so parameter counts match the tables."""

from __future__ import annotations

import torch
from torch import nn

from nascli.spaces.nb201.genotype import NUM_NODES, NB201Arch, edges_into
from nascli.spaces.ops import NB201_OPS, ResNetBasicBlock


class NB201Cell(nn.Module):
    """A NAS-Bench-201 cell: node j sums its ops applied to nodes 0..j-1; node 3 is the output."""

    def __init__(self, arch: NB201Arch, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(NB201_OPS[op](channels, channels, 1, True) for op in arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for to_node in range(1, NUM_NODES):
            nodes.append(sum(self.edges[e](nodes[src]) for e, src in edges_into(to_node)))
        return nodes[-1]


class NB201Network(nn.Module):
    """NAS-Bench-201's skeleton: stem, 3 stages of cells (C, 2C, 4C) joined by ResNet blocks, head."""

    def __init__(
        self, arch: NB201Arch, channels: int, cells_per_stage: int, num_classes: int, in_channels: int
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        )
        self.cells = nn.Sequential(*self._cells(arch, channels, cells_per_stage))
        last = 4 * channels
        self.lastact = nn.Sequential(nn.BatchNorm2d(last), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(last, num_classes)

    @staticmethod
    def _cells(arch: NB201Arch, channels: int, cells_per_stage: int) -> list[nn.Module]:
        cells: list[nn.Module] = []
        for stage in range(3):
            width = channels * 2**stage
            if stage > 0:
                cells.append(ResNetBasicBlock(width // 2, width, stride=2))
            cells.extend(NB201Cell(arch, width) for _ in range(cells_per_stage))
        return cells

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.lastact(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(self.global_pooling(features), 1))
