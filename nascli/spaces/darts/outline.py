"""The DARTS network, written once: NetworkCIFAR's stack of normal and reduction cells, with a site on
every edge of a cell (node n reads every earlier state through one; a genotype keeps two per node).

Picked ops make the paper's evaluation network for a genotype (only the kept edges, affine
BatchNorms, drop path, the optional auxiliary head); mixed edges make the paper's search network
(every edge, one alpha group per cell type, affine-free preprocessing and pooled candidates
normalised, as its model_search.py does). The two differ by what the maker says, not by code.
"""

from __future__ import annotations

import torch
from torch import nn

from nascli.spaces.darts.genotype import OP_NAMES
from nascli.spaces.ops import DARTS_OPS, FactorizedReduce, Identity, ReLUConvBN
from nascli.spaces.outline import Maker, Site, sum_terms


def edge_offsets(steps: int) -> list[int]:
    """Index of the first edge into each node (node n has 2 + n edges, from every earlier state)."""
    offsets, total = [], 0
    for node in range(steps):
        offsets.append(total)
        total += 2 + node
    return offsets


def edge_site(cell: str, node: int, source: int, edge: int, channels: int, stride: int) -> Site:
    """The edge from state `source` into node `node` of a `cell` cell (states 0, 1 are the cell's inputs)."""

    def build(op: str, width: int, affine: bool) -> nn.Module:
        return DARTS_OPS[op](width, width, stride, affine)

    return Site(cell, edge, OP_NAMES, build, channels, channels, stride, label=f"{2 + node}<-{source}", node=node,
                source=source, normalize_pools=True)


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability `drop_prob`, rescaling the rest (DARTS' regulariser)."""
    keep = 1.0 - drop_prob
    mask = x.new_empty(x.shape[0], 1, 1, 1).bernoulli_(keep)
    return x / keep * mask


class DartsCell(nn.Module):
    """Both inputs preprocessed to C channels, then each of `steps` nodes sums its edges from every
    earlier state (in a reduction cell the edges from the inputs stride); the last nodes concatenated."""

    def __init__(self, make: Maker, steps: int, multiplier: int, reduction: bool, reduction_prev: bool,
                 c_prev_prev: int, c_prev: int, c: int) -> None:
        super().__init__()
        affine = make.affine
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, c, affine=affine)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c, 1, 1, 0, affine=affine)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0, affine=affine)
        cell = "reduce" if reduction else "normal"
        self.node_edges: list[list[tuple[int, int]]] = []  # per node, (edge, source state)
        edges: dict[str, nn.Module] = {}
        for node, first in enumerate(edge_offsets(steps)):
            self.node_edges.append([(first + src, src) for src in range(2 + node)])
            for src in range(2 + node):
                module = make(edge_site(cell, node, src, first + src, c, 2 if reduction and src < 2 else 1))
                if module is not None:
                    edges[str(first + src)] = module
        self.edges = nn.ModuleDict(edges)
        self.multiplier = multiplier
        self.out_channels = multiplier * c

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node_edges in self.node_edges:
            states.append(sum_terms(self._edge(edge, states[src], drop_prob) for edge, src in node_edges))
        return torch.cat(states[-self.multiplier:], dim=1)

    def _edge(self, edge: int, x: torch.Tensor, drop_prob: float) -> torch.Tensor | None:
        module = self.edges[str(edge)] if str(edge) in self.edges else None
        if module is None:
            return None
        out = module(x)
        if out is not None and self.training and drop_prob > 0.0 and not isinstance(module, Identity):
            out = drop_path(out, drop_prob)
        return out


class AuxiliaryHead(nn.Module):
    """The paper's CIFAR auxiliary classifier; pools to 2x2 adaptively where AvgPool(5, 3) cannot."""

    def __init__(self, channels: int, num_classes: int, spatial: int) -> None:
        super().__init__()
        paper_pool_fits = 8 <= spatial <= 10  # AvgPool(5, stride 3) gives the 2x2 the last conv expects
        pool: nn.Module = (
            nn.AvgPool2d(5, stride=3, count_include_pad=False) if paper_pool_fits else nn.AdaptiveAvgPool2d(2)
        )
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            pool,
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class DartsNet(nn.Module):
    """NetworkCIFAR: stem of stem_multiplier * C channels, `layers` cells with reductions (and channel
    doubling) at 1/3 and 2/3 depth, global pooling and a linear classifier; for a discrete network
    also the auxiliary head and drop path. stem="imagenet" is NetworkImageNet's for 224 px inputs:
    two stride-2 convs (C/2, then C channels) feed the first cell's s0, one more stride-2 conv its
    s1, so the cells start at 1/8 of the input (the first as if after a reduction). Its auxiliary
    head is the CIFAR one pooled adaptively to 2x2 (the reference's AvgPool(5, 2) at 14x14 leaves
    4x4, which its Linear(768) cannot take).

    In training mode with an auxiliary head, forward returns (logits, aux_logits); otherwise logits.
    `drop_path_prob` may be changed between epochs by a trainer.
    """

    def __init__(self, make: Maker, channels: int, layers: int, steps: int, multiplier: int, stem_multiplier: int,
                 num_classes: int, in_channels: int, input_size: int, auxiliary: bool, drop_path_prob: float,
                 stem: str) -> None:
        super().__init__()
        self.drop_path_prob = drop_path_prob if make.picks_one else 0.0
        reductions = {layers // 3, 2 * layers // 3}
        self.aux_index = 2 * layers // 3
        self.cells = nn.ModuleList()
        self.stem1: nn.Module | None = None
        if stem == "imagenet":
            half = max(1, channels // 2)
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, half, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
                nn.Conv2d(half, channels, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(channels))
            self.stem1 = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False),
                                       nn.BatchNorm2d(channels))
            c_prev_prev, c_prev, c, spatial = channels, channels, channels, (((input_size + 1) // 2 + 1) // 2 + 1) // 2
            reduction_prev = {-1}
        else:
            c_stem = stem_multiplier * channels
            self.stem = nn.Sequential(nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
            c_prev_prev, c_prev, c, spatial = c_stem, c_stem, channels, input_size
            reduction_prev = set()
        aux_channels, aux_spatial = c_prev, spatial
        for i in range(layers):
            if i in reductions:
                c, spatial = 2 * c, (spatial + 1) // 2
            cell = DartsCell(make, steps, multiplier, i in reductions, i - 1 in reductions | reduction_prev,
                             c_prev_prev, c_prev, c)
            self.cells.append(cell)
            c_prev_prev, c_prev = c_prev, cell.out_channels
            if i == self.aux_index:
                aux_channels, aux_spatial = c_prev, spatial
        self.auxiliary_head = (AuxiliaryHead(aux_channels, num_classes, aux_spatial)
                               if auxiliary and make.picks_one else None)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        s0 = s1 = self.stem(x)
        if self.stem1 is not None:
            s1 = self.stem1(s0)
        aux_logits = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_index and self.auxiliary_head is not None and self.training:
                aux_logits = self.auxiliary_head(s1)
        logits = self.classifier(torch.flatten(self.global_pooling(s1), 1))
        return logits if aux_logits is None else (logits, aux_logits)
