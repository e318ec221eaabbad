"""torchvision's ResNet-18, MobileNetV3-Small and EfficientNet-B0, built from scratch (no downloaded
weights) for any input channel count and size.

Small inputs (at most `small_input` px) get the stems of the networks' small-image variants: ResNet's
CIFAR-style stem (a 3x3 stride-1 convolution and no max pool, as the ResNet-18 commonly trained on
CIFAR-10 and He et al. 2016's CIFAR networks, whose stem keeps the 32 px map), and a stride-1 first
convolution for MobileNetV3 and EfficientNet (their five halvings take a 32 px input to 1x1, so their
last stages would see a single pixel; with a stride-1 stem they end at 2x2). Larger inputs keep the ImageNet stems; only the first
convolution's input channels change.

Every BatchNorm layer gets the space's `bn_momentum` (0.1, as torchvision's ResNet-18 and
EfficientNet-B0 have it): torchvision's MobileNetV3 uses 0.01 (TensorFlow's 0.99 decay), made for
ImageNet's hundreds of thousands of steps; after the few hundred steps of a small dataset its running
statistics are still far from the data's, and the evaluated network predicts one class
(MobileNetV3-Small on digits, 10 epochs: 84% training accuracy, 9.7% validation; the same weights
with recalibrated statistics: 88.3%).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


def _stem_conv(old: nn.Conv2d, in_channels: int, stride: int) -> nn.Conv2d:
    """A first convolution like `old` but taking `in_channels` and moving by `stride`."""
    pad = old.kernel_size[0] // 2
    return nn.Conv2d(in_channels, old.out_channels, old.kernel_size, stride=stride, padding=pad,
                     bias=old.bias is not None)


def resnet18(num_classes: int, in_channels: int, small: bool) -> nn.Module:
    from torchvision.models import resnet18 as build

    net = build(weights=None, num_classes=num_classes)
    if small:  # 3x3 stride-1 stem, no max pool: the CIFAR ResNet-18
        net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    else:
        net.conv1 = _stem_conv(net.conv1, in_channels, 2)
    return net


def mobilenet_v3_small(num_classes: int, in_channels: int, small: bool) -> nn.Module:
    from torchvision.models import mobilenet_v3_small as build

    net = build(weights=None, num_classes=num_classes)
    net.features[0][0] = _stem_conv(net.features[0][0], in_channels, 1 if small else 2)
    return net


def efficientnet_b0(num_classes: int, in_channels: int, small: bool) -> nn.Module:
    from torchvision.models import efficientnet_b0 as build

    net = build(weights=None, num_classes=num_classes)
    net.features[0][0] = _stem_conv(net.features[0][0], in_channels, 1 if small else 2)
    return net


def with_bn_momentum(net: nn.Module, momentum: float) -> nn.Module:
    """`net` with every BatchNorm layer's running statistics updated at `momentum`."""
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = momentum
    return net


BUILDERS: dict[str, Callable[[int, int, bool], nn.Module]] = {
    "resnet18": resnet18,
    "mobilenet_v3_small": mobilenet_v3_small,
    "efficientnet_b0": efficientnet_b0,
}
