"""The baseline space: one gene, which standard network (nascli.spaces.baseline.networks). Each
network is also a published genotype under its name, so `nas retrain baseline=resnet18` (or
`genotype=resnet18`) trains it with the same recipe, data and splits as a searched network, and
evaluate, export, predict and report read its checkpoint like any other. It has no outline of
sites: no supernet and no latency table; sample-based strategies can still compare the three."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from nascli.errors import ConfigError, GenotypeError
from nascli.registry import SPACES
from nascli.spaces.base import SearchSpace
from nascli.spaces.baseline.networks import BUILDERS, with_bn_momentum

NAMES = tuple(BUILDERS)


@SPACES.register("baseline")
class BaselineSpace(SearchSpace):
    """ResNet-18, MobileNetV3-Small, EfficientNet-B0 from torchvision, adapted to the input."""

    published = {name: name for name in NAMES}

    def __init__(self, small_input: int, bn_momentum: float) -> None:
        if type(small_input) is not int or small_input < 1:
            raise ConfigError(f"baseline small_input must be a positive whole number of pixels, got {small_input!r}.")
        if not 0 < bn_momentum <= 1:
            raise ConfigError(f"baseline bn_momentum must be in (0, 1], got {bn_momentum!r}.")
        self.small_input, self.bn_momentum = small_input, float(bn_momentum)

    def cardinalities(self) -> list[int]:
        return [len(NAMES)]

    def encode(self, arch: Any) -> list[int]:
        return [NAMES.index(self.validate(arch))]

    def decode(self, genes: Sequence[int]) -> str:
        if len(genes) != 1 or not 0 <= genes[0] < len(NAMES):
            raise GenotypeError(f"baseline genes must be one index below {len(NAMES)}, got {list(genes)}.")
        return NAMES[genes[0]]

    def validate(self, arch: Any) -> str:
        if arch not in NAMES:
            raise GenotypeError(f"{arch!r} is not a baseline network; they are {', '.join(NAMES)}.")
        return str(arch)

    def to_str(self, arch: Any) -> str:
        return self.validate(arch)

    def from_str(self, text: str) -> str:
        return self.validate(text.strip())

    def to_json(self, arch: Any) -> str:
        return self.validate(arch)

    def from_json(self, obj: Any) -> str:
        return self.validate(obj)

    def build_network(self, arch: Any, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        """The network, from scratch, with the small-image stem where input_size <= small_input and every
        BatchNorm at bn_momentum."""
        net = BUILDERS[self.validate(arch)](num_classes, in_channels, input_size <= self.small_input)
        return with_bn_momentum(net, self.bn_momentum)

    def config(self) -> dict[str, Any]:
        return {"small_input": self.small_input, "bn_momentum": self.bn_momentum}
