"""NetworkCIFAR, the DARTS paper's evaluation network for a Genotype, with drop path and the
auxiliary head."""

from __future__ import annotations

import torch
from torch import nn

from nascli.spaces.darts.genotype import Genotype
from nascli.spaces.ops import DARTS_OPS, FactorizedReduce, Identity, ReLUConvBN


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability `drop_prob`, rescaling the rest (DARTS' regulariser)."""
    keep = 1.0 - drop_prob
    mask = x.new_empty(x.shape[0], 1, 1, 1).bernoulli_(keep)
    return x / keep * mask


class DartsCell(nn.Module):
    """One cell of NetworkCIFAR: preprocess both inputs to C channels, then each node sums two ops."""

    def __init__(
        self, genotype: Genotype, reduction: bool, reduction_prev: bool, c_prev_prev: int, c_prev: int, c: int
    ) -> None:
        super().__init__()
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, c)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0)
        cell = genotype.reduce if reduction else genotype.normal
        # in a reduction cell, the edges that read the two cell inputs stride
        self.ops = nn.ModuleList(
            DARTS_OPS[op](c, c, 2 if reduction and src < 2 else 1, True) for op, src in cell
        )
        self.indices = [src for _, src in cell]
        self.concat = list(genotype.reduce_concat if reduction else genotype.normal_concat)
        self.out_channels = len(self.concat) * c

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for first in range(0, len(self.ops), 2):
            states.append(self._edge(first, states, drop_prob) + self._edge(first + 1, states, drop_prob))
        return torch.cat([states[i] for i in self.concat], dim=1)

    def _edge(self, k: int, states: list[torch.Tensor], drop_prob: float) -> torch.Tensor:
        op = self.ops[k]
        out = op(states[self.indices[k]])
        if self.training and drop_prob > 0.0 and not isinstance(op, Identity):
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


class DartsNetwork(nn.Module):
    """NetworkCIFAR: stem, `layers` cells (reductions at 1/3 and 2/3 depth), optional auxiliary head.

    In training mode with an auxiliary head, forward returns (logits, aux_logits); otherwise logits.
    `drop_path_prob` may be changed between epochs by a trainer.
    """

    def __init__(
        self, genotype: Genotype, channels: int, layers: int, num_classes: int, in_channels: int,
        input_size: int, auxiliary: bool, drop_path_prob: float, stem_multiplier: int,
    ) -> None:
        super().__init__()
        self.drop_path_prob = drop_path_prob
        c_stem = stem_multiplier * channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem)
        )
        reductions = {layers // 3, 2 * layers // 3}
        self.aux_index = 2 * layers // 3
        self.cells = nn.ModuleList()
        c_prev_prev, c_prev, c, spatial = c_stem, c_stem, channels, input_size
        for i in range(layers):
            if i in reductions:
                c, spatial = 2 * c, (spatial + 1) // 2
            cell = DartsCell(genotype, i in reductions, i - 1 in reductions, c_prev_prev, c_prev, c)
            self.cells.append(cell)
            c_prev_prev, c_prev = c_prev, cell.out_channels
            if i == self.aux_index:
                aux_channels, aux_spatial = c_prev, spatial
        self.auxiliary_head = AuxiliaryHead(aux_channels, num_classes, aux_spatial) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        s0 = s1 = self.stem(x)
        aux_logits = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_index and self.auxiliary_head is not None and self.training:
                aux_logits = self.auxiliary_head(s1)
        logits = self.classifier(torch.flatten(self.global_pooling(s1), 1))
        return logits if aux_logits is None else (logits, aux_logits)
