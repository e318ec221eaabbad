"""The MobileNet network, written once: stem, a site per block slot of every stage (laid out by the
skeleton, nascli.spaces.mobilenet.skeleton), head. Picked ops make the network of an architecture
(the used MBConv blocks of every stage); a supernet puts the space's elastic block
(nascli.spaces.mobilenet.elastic) in every slot, mixed as its strategy says."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nascli.spaces.mobilenet.elastic import ElasticMBConv
from nascli.spaces.mobilenet.genotype import SKIP, Block, Choices, parse_op
from nascli.spaces.mobilenet.skeleton import Skeleton, Slot, squeeze_channels
from nascli.spaces.outline import Maker, Site

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu6": lambda: nn.ReLU6(inplace=True),       # MobileNetV2, ProxylessNAS
    "hswish": lambda: nn.Hardswish(inplace=True),  # MobileNetV3 (Howard et al., ICCV 2019)
}


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int, groups: int = 1, act: str | None = None) -> nn.Sequential:
    """Convolution (padding k // 2, no bias), batch norm, then the activation if one is named."""
    layers = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, *([ACTIVATIONS[act]()] if act else []))


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


def slot_site(slot: Slot, skeleton: Skeleton, choices: Choices) -> Site:
    """Slot `slot` (group b<index>): any block op, or skip_connect (nothing runs) where the stage's
    depth may end before it; the first `min_depth` slots of a stage cannot be skipped."""
    def build(op: str, width: int, affine: bool) -> nn.Module | None:
        return None if op == SKIP else MBConv(slot.c_in, width, slot.stride, parse_op(op), skeleton.activation)

    mandatory = slot.position < choices.min_depths[slot.stage]
    return Site(f"b{slot.index}", 0, (*choices.ops, SKIP), build, slot.c_in, slot.c_out, slot.stride,
                label=f"b{slot.index}", masked=frozenset({SKIP}) if mandatory else frozenset(),
                shared=lambda: ElasticMBConv(slot, choices, skeleton.activation))


class MobileNetNet(nn.Module):
    """Stem, a block per slot (a discrete network keeps the first `depth` of every stage), head; any
    input size works (padded, ceil)."""

    def __init__(self, make: Maker, skeleton: Skeleton, choices: Choices, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.stem = Stem(in_channels, skeleton)
        made = (make(slot_site(slot, skeleton, choices)) for slot in skeleton.all_slots())
        self.blocks = nn.Sequential(*(module for module in made if module is not None))
        self.head = Head(skeleton.widths[-1], skeleton, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))
