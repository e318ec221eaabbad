"""The discrete chain network of an architecture: its feature layers in order, global average
pooling, its fully connected layers, the classifier."""

from __future__ import annotations

import torch
from torch import nn

from nascli.spaces.chain.genotype import CONV, ChainArch, Layer


def strided(size: int, stride: int) -> int:
    """Output size of a padded (window // 2) odd-window conv or pool: ceil(size / stride)."""
    return (size + stride - 1) // stride


def _feature(layer: Layer, c_in: int, pool_window: int) -> tuple[list[nn.Module], int]:
    """The modules of one feature layer and its output channels."""
    if layer.op == CONV:
        conv = nn.Conv2d(c_in, layer.width, layer.kernel, layer.stride, layer.kernel // 2, bias=False)
        return [conv, nn.BatchNorm2d(layer.width), nn.ReLU(inplace=True)], layer.width
    if layer.op == "max":
        return [nn.MaxPool2d(pool_window, layer.stride, pool_window // 2)], c_in
    if layer.op == "avg":  # padding not counted: the border's mean is of the real pixels
        return [nn.AvgPool2d(pool_window, layer.stride, pool_window // 2, count_include_pad=False)], c_in
    return [], c_in  # identity: the slot is skipped


class ChainNetwork(nn.Module):
    """features (conv-BN-ReLU or pool per used slot) -> global average pool -> (dropout, Linear,
    ReLU) per fully connected layer -> dropout -> classifier. Any input size works; the space
    checks the strides against it."""

    def __init__(self, arch: ChainArch, num_classes: int, in_channels: int, pool_window: int, dropout: float) -> None:
        super().__init__()
        modules, channels = [], in_channels
        for layer in arch.layers:
            built, channels = _feature(layer, channels, pool_window)
            modules += built
        self.features = nn.Sequential(*modules)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        dense = []
        for width in arch.dense:
            dense += [*([nn.Dropout(dropout)] if dropout else []), nn.Linear(channels, width), nn.ReLU(inplace=True)]
            channels = width
        self.dense = nn.Sequential(*dense)
        self.classifier = nn.Sequential(*([nn.Dropout(dropout)] if dropout else []), nn.Linear(channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dense(self.pool(self.features(x))))
