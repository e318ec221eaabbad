"""NAS-Bench-101's network for one cell, built as the benchmark's model_builder builds it, so that
parameter counts match its table: a conv-BN-ReLU stem, stacks of cells with a 2x2 max pool and
doubled channels between stacks, global average pooling and a dense layer.

Inside a cell, the output's channels are split among the vertices that feed it (the remainder to
the first ones), every other vertex takes the largest width of its successors, interior inputs are
truncated to a vertex's width and the cell input reaches a vertex through a 1x1 projection.
"""

from __future__ import annotations

import torch
from torch import nn

from nascli.spaces.nb101.cell import Matrix

BN_MOMENTUM = 0.003  # the benchmark's TensorFlow batch norm: decay 0.997
BN_EPS = 1e-5


class ConvBnRelu(nn.Sequential):
    """Convolution without bias ('same' padding), batch norm, ReLU: every weighted op of the benchmark."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int) -> None:
        super().__init__(nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=False),
                         nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM), nn.ReLU(inplace=True))


def vertex_op(op: str, channels: int) -> nn.Module:
    """The module of an interior op at `channels` (in and out: a vertex keeps its width)."""
    if op == "conv3x3-bn-relu":
        return ConvBnRelu(channels, channels, 3)
    if op == "conv1x1-bn-relu":
        return ConvBnRelu(channels, channels, 1)
    return nn.MaxPool2d(3, stride=1, padding=1)  # maxpool3x3


def vertex_channels(c_in: int, c_out: int, matrix: Matrix) -> list[int]:
    """Each vertex's width: the output's c_out split evenly among the interior vertices feeding it
    (the first ones get one more while a remainder lasts), then backwards every other interior
    vertex the largest width among its interior successors."""
    n = len(matrix)
    channels = [c_in] + [0] * (n - 2) + [c_out]
    if n == 2:
        return channels
    feeding = [v for v in range(1, n - 1) if matrix[v][n - 1]]
    share, extra = divmod(c_out, len(feeding))
    for rank, v in enumerate(feeding):
        channels[v] = share + (1 if rank < extra else 0)
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            channels[v] = max(channels[w] for w in range(v + 1, n - 1) if matrix[v][w])
    return channels


class NB101Cell(nn.Module):
    """One cell ("module" in the benchmark) from c_in to c_out channels."""

    def __init__(self, matrix: Matrix, ops: tuple[str, ...], c_in: int, c_out: int) -> None:
        super().__init__()
        self.matrix, n = matrix, len(matrix)
        self.channels = vertex_channels(c_in, c_out, matrix)
        self.vertex_ops = nn.ModuleList(vertex_op(ops[t], self.channels[t]) for t in range(1, n - 1))
        # the cell input reaches vertex t (and the output) through its own 1x1 projection
        self.projections = nn.ModuleDict({str(t): ConvBnRelu(c_in, self.channels[t], 1)
                                          for t in range(1, n) if matrix[0][t]})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, m = len(self.matrix), self.matrix
        tensors = [x]
        for t in range(1, n - 1):
            inputs = [tensors[src][:, : self.channels[t]] for src in range(1, t) if m[src][t]]
            if m[0][t]:
                inputs.append(self.projections[str(t)](x))
            tensors.append(self.vertex_ops[t - 1](sum(inputs[1:], inputs[0])))
        feeding = [tensors[t] for t in range(1, n - 1) if m[t][n - 1]]
        if not feeding:
            return self.projections[str(n - 1)](x)
        out = feeding[0] if len(feeding) == 1 else torch.cat(feeding, dim=1)
        return out + self.projections[str(n - 1)](x) if m[0][n - 1] else out


class NB101Network(nn.Module):
    """Stem (3x3 conv-BN-ReLU to `stem_channels`), `stacks` stacks of `cells_per_stack` cells with a
    2x2 max pool and doubled channels before every stack but the first, global pool, dense layer."""

    def __init__(self, matrix: Matrix, ops: tuple[str, ...], stem_channels: int, stacks: int, cells_per_stack: int,
                 num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.stem = ConvBnRelu(in_channels, stem_channels, 3)
        layers: list[nn.Module] = []
        c_in = channels = stem_channels
        for stack in range(stacks):
            if stack > 0:
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))  # TensorFlow's 'same' padding
                channels *= 2
            for _ in range(cells_per_stack):
                layers.append(NB101Cell(matrix, ops, c_in, channels))
                c_in = channels
        self.cells = nn.Sequential(*layers)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.cells(self.stem(x))
        return self.classifier(torch.flatten(self.global_pooling(features), 1))
