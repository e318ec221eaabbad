"""The discrete MobileNet network of an architecture: stem, the used MBConv blocks of every stage,
head; and the skeleton (widths, strides, slots) that the network, supernet and cost units share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from nascli.spaces.mobilenet.genotype import Block, MobileNetArch

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu6": lambda: nn.ReLU6(inplace=True),       # MobileNetV2, ProxylessNAS
    "hswish": lambda: nn.Hardswish(inplace=True),  # MobileNetV3 (Howard et al., ICCV 2019)
}


class Slot(NamedTuple):
    """One block slot of the skeleton: where it is and the shape it maps."""

    index: int  # over all stages: the supernet's group b<index>
    stage: int
    position: int  # within its stage; the first one changes width and stride
    c_in: int
    c_out: int
    stride: int


@dataclass(frozen=True)
class Skeleton:
    """The macro skeleton in channels: stem, stages of block slots, head (options resolved by the space)."""

    stem: int
    first: int  # width after the stem's fixed first block (C)
    stem_stride: int
    widths: tuple[int, ...]
    strides: tuple[int, ...]
    slots: tuple[int, ...]  # block slots per stage: its maximum depth
    head: int
    activation: str
    dropout: float

    def all_slots(self) -> list[Slot]:
        """Every block slot in network order."""
        out, c_in = [], self.first
        for stage, (width, stride, slots) in enumerate(zip(self.widths, self.strides, self.slots)):
            for position in range(slots):
                first = position == 0
                out.append(Slot(len(out), stage, position, c_in, width, stride if first else 1))
                c_in = width
        return out

    def slot_sizes(self, input_size: int) -> list[int]:
        """The spatial size each slot's input has, for networks of `input_size` inputs."""
        size, sizes = _strided(input_size, self.stem_stride), []
        for slot in self.all_slots():
            sizes.append(size)
            size = _strided(size, slot.stride)
        return sizes

    def final_size(self, input_size: int) -> int:
        size = _strided(input_size, self.stem_stride)
        for stride in self.strides:
            size = _strided(size, stride)
        return size


def _strided(size: int, stride: int) -> int:
    """Output size of a padded (k // 2) odd-kernel convolution: ceil, so 1x1 stays 1x1."""
    return (size + stride - 1) // stride


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int, groups: int = 1, act: str | None = None) -> nn.Sequential:
    """Convolution (padding k // 2, no bias), batch norm, then the activation if one is named."""
    layers = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, *([ACTIVATIONS[act]()] if act else []))


def squeeze_channels(channels: int) -> int:
    """SE bottleneck width: a quarter of the expanded channels (MobileNetV3), at least 1."""
    return max(1, channels // 4)


class SqueezeExcite(nn.Module):
    """Squeeze-excitation as in MobileNetV3: pool, 1x1 down, ReLU, 1x1 up, hard sigmoid, rescale."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        squeeze = squeeze_channels(channels)
        self.reduce = nn.Conv2d(channels, squeeze, 1)
        self.expand = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.reduce(x.mean((2, 3), keepdim=True)))
        return x * nn.functional.hardsigmoid(self.expand(s))


class MBConv(nn.Module):
    """Inverted residual (MobileNetV2): 1x1 expand, kxk depthwise (strided), optional SE, 1x1
    linear projection; the input is added back when the shapes allow."""

    def __init__(self, c_in: int, c_out: int, stride: int, block: Block, activation: str) -> None:
        super().__init__()
        mid = c_in * block.expansion
        self.expand = conv_bn(c_in, mid, 1, 1, act=activation)
        self.depthwise = conv_bn(mid, mid, block.kernel, stride, groups=mid, act=activation)
        self.se = SqueezeExcite(mid) if block.se else nn.Identity()
        self.project = conv_bn(mid, c_out, 1, 1)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.depthwise(self.expand(x))))
        return x + out if self.residual else out


class Stem(nn.Sequential):
    """3x3 convolution, then the fixed first block of MobileNetV2 and ProxylessNAS (expansion 1:
    3x3 depthwise, 1x1 projection to C channels)."""

    def __init__(self, in_channels: int, skeleton: Skeleton) -> None:
        act, stem = skeleton.activation, skeleton.stem
        super().__init__(conv_bn(in_channels, stem, 3, skeleton.stem_stride, act=act),
                         conv_bn(stem, stem, 3, 1, groups=stem, act=act), conv_bn(stem, skeleton.first, 1, 1))


class Head(nn.Sequential):
    """1x1 convolution to the head width, global pooling, dropout, the classifier."""

    def __init__(self, c_in: int, skeleton: Skeleton, num_classes: int) -> None:
        super().__init__(conv_bn(c_in, skeleton.head, 1, 1, act=skeleton.activation), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Dropout(skeleton.dropout), nn.Linear(skeleton.head, num_classes))


class MobileNetNetwork(nn.Module):
    """Stem, the first `depth` blocks of every stage, head; any input size works (padded, ceil)."""

    def __init__(self, arch: MobileNetArch, skeleton: Skeleton, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.stem = Stem(in_channels, skeleton)
        self.blocks = nn.Sequential(*(
            MBConv(slot.c_in, slot.c_out, slot.stride, arch.blocks[slot.stage][slot.position], skeleton.activation)
            for slot in skeleton.all_slots() if slot.position < arch.depths[slot.stage]))
        self.head = Head(skeleton.widths[-1], skeleton, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))
