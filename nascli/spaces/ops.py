"""Candidate operations and op tables of the NAS-Bench-201 and DARTS cell spaces, shared by discrete
networks and weight-sharing supernets so that a supernet's candidate and its derived op are one module.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

OpFactory = Callable[[int, int, int, bool], nn.Module]  # (C_in, C_out, stride, affine) -> module


class ReLUConvBN(nn.Sequential):
    """ReLU, then a (possibly dilated) convolution, then batch norm."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        dilation: int = 1,
        affine: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride, padding, dilation, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU, dilated depthwise convolution, pointwise convolution, batch norm (DARTS `dil_conv`)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        dilation: int,
        affine: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride, padding, dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked depthwise-separable convolutions (DARTS `sep_conv`); only the first one strides."""

    def __init__(
        self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int, affine: bool = True
    ) -> None:
        super().__init__(
            DilConv(c_in, c_in, kernel_size, stride, padding, 1, affine),
            DilConv(c_in, c_out, kernel_size, 1, padding, 1, affine),
        )


class FactorizedReduce(nn.Module):
    """ReLU, 1x1 convolution(s) and batch norm that change channels and may halve the resolution.

    With stride 2, two 1x1 stride-2 convolutions see inputs offset by one pixel and their outputs are
    concatenated, so no pixel is skipped; the input is zero-padded on the bottom/right so that odd
    sizes work too (output size ceil(H/2), like a padded 3x3 stride-2 convolution).
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 2, affine: bool = True) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"FactorizedReduce supports stride 1 or 2, got {stride}")
        self.stride = stride
        self.relu = nn.ReLU(inplace=False)
        halves = [c_out] if stride == 1 else [c_out // 2, c_out - c_out // 2]
        self.convs = nn.ModuleList(nn.Conv2d(c_in, c, 1, stride, bias=False) for c in halves)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        if self.stride == 1:
            return self.bn(self.convs[0](x))
        shifted = nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.convs[0](x), self.convs[1](shifted)], dim=1))


class Zero(nn.Module):
    """The `none` op: zeros of the shape the edge would output (C_out channels, strided size)."""

    def __init__(self, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.c_out = c_out
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        strided = x[:, :, :: self.stride, :: self.stride]
        return strided.new_zeros(strided.shape[0], self.c_out, *strided.shape[2:])


class Identity(nn.Module):
    """The `skip_connect` op between equal shapes (a class of our own so cells can recognise it)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Pool(nn.Module):
    """3x3 average or max pooling, after a 1x1 ReLUConvBN when the channel count changes."""

    def __init__(self, kind: str, c_in: int, c_out: int, stride: int, affine: bool = True) -> None:
        super().__init__()
        self.preprocess = ReLUConvBN(c_in, c_out, 1, 1, 0, affine=affine) if c_in != c_out else None
        if kind == "avg":
            self.pool: nn.Module = nn.AvgPool2d(3, stride, padding=1, count_include_pad=False)
        elif kind == "max":
            self.pool = nn.MaxPool2d(3, stride, padding=1)
        else:
            raise ValueError(f"pool kind must be 'avg' or 'max', got {kind!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x if self.preprocess is None else self.preprocess(x))


class ResNetBasicBlock(nn.Module):
    """NAS-Bench-201's reduction block: two 3x3 ReLUConvBNs plus a 2x2-avgpool + 1x1-conv shortcut.

    The shortcut pool uses ceil_mode so that odd input sizes match the strided convolution's
    ceil(H/2) output; on even sizes this is exactly the benchmark's block.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 2, affine: bool = True) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride, 1, affine=affine)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, affine=affine)
        self.downsample = self._shortcut(c_in, c_out, stride, affine)

    @staticmethod
    def _shortcut(c_in: int, c_out: int, stride: int, affine: bool) -> nn.Module:
        if stride == 2:
            return nn.Sequential(
                nn.AvgPool2d(2, 2, ceil_mode=True), nn.Conv2d(c_in, c_out, 1, bias=False)
            )
        if c_in != c_out:
            return ReLUConvBN(c_in, c_out, 1, 1, 0, affine=affine)
        return Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def skip_connect(c_in: int, c_out: int, stride: int, affine: bool) -> nn.Module:
    """Identity where shapes allow, else a FactorizedReduce that matches them."""
    if stride == 1 and c_in == c_out:
        return Identity()
    return FactorizedReduce(c_in, c_out, stride, affine)


NB201_OPS: dict[str, OpFactory] = {
    "none": lambda c_in, c_out, stride, affine: Zero(c_out, stride),
    "skip_connect": skip_connect,
    "nor_conv_1x1": lambda c_in, c_out, stride, affine: ReLUConvBN(c_in, c_out, 1, stride, 0, affine=affine),
    "nor_conv_3x3": lambda c_in, c_out, stride, affine: ReLUConvBN(c_in, c_out, 3, stride, 1, affine=affine),
    "avg_pool_3x3": lambda c_in, c_out, stride, affine: Pool("avg", c_in, c_out, stride, affine),
}

DARTS_OPS: dict[str, OpFactory] = {
    "none": lambda c_in, c_out, stride, affine: Zero(c_out, stride),
    "max_pool_3x3": lambda c_in, c_out, stride, affine: Pool("max", c_in, c_out, stride, affine),
    "avg_pool_3x3": lambda c_in, c_out, stride, affine: Pool("avg", c_in, c_out, stride, affine),
    "skip_connect": skip_connect,
    "sep_conv_3x3": lambda c_in, c_out, stride, affine: SepConv(c_in, c_out, 3, stride, 1, affine),
    "sep_conv_5x5": lambda c_in, c_out, stride, affine: SepConv(c_in, c_out, 5, stride, 2, affine),
    "dil_conv_3x3": lambda c_in, c_out, stride, affine: DilConv(c_in, c_out, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda c_in, c_out, stride, affine: DilConv(c_in, c_out, 5, stride, 4, 2, affine),
}
