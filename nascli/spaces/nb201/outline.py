"""NAS-Bench-201's network, written once: its macro skeleton (so parameter counts match the tables)
with a site on each of a cell's 6 edges. Picked ops make the benchmark's network for an
architecture; mixed edges make its supernet (all cells share one group, `cell`)."""

from __future__ import annotations

import torch
from torch import nn

from nascli.spaces.nb201.genotype import EDGES, NUM_NODES, OP_NAMES, edges_into
from nascli.spaces.ops import NB201_OPS, ResNetBasicBlock
from nascli.spaces.outline import Maker, Site, sum_terms


def edge_site(edge: int, channels: int) -> Site:
    """Edge `edge` of a cell of `channels` channels: any of the 5 ops, stride 1."""
    to_node, source = EDGES[edge]

    def build(op: str, width: int, affine: bool) -> nn.Module:
        return NB201_OPS[op](width, width, 1, affine)

    return Site("cell", edge, OP_NAMES, build, channels, channels, 1, label=f"{to_node}<-{source}",
                node=to_node - 1, source=source)


class NB201Cell(nn.Module):
    """A NAS-Bench-201 cell: node j sums its edges' outputs from nodes 0..j-1; node 3 is the output."""

    def __init__(self, make: Maker, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(make(edge_site(edge, channels)) for edge in range(len(EDGES)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for to_node in range(1, NUM_NODES):
            nodes.append(sum_terms(self.edges[e](nodes[src]) for e, src in edges_into(to_node)))
        return nodes[-1]


class NB201Net(nn.Module):
    """NAS-Bench-201's skeleton: stem, 3 stages of N cells (C, 2C, 4C) joined by ResNet blocks, head."""

    def __init__(self, make: Maker, channels: int, cells_per_stage: int, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        cells: list[nn.Module] = []
        for stage in range(3):
            width = channels * 2**stage
            if stage > 0:
                cells.append(ResNetBasicBlock(width // 2, width, stride=2))
            cells.extend(NB201Cell(make, width) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*cells)
        last = 4 * channels
        self.lastact = nn.Sequential(nn.BatchNorm2d(last), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.lastact(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(self.global_pooling(features), 1))
