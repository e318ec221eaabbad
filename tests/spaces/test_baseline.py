"""The baseline space: torchvision's networks built for the data's channels, with the small-image stems
at small inputs (the map keeps its size through the stem) and the ImageNet stems above small_input."""

from __future__ import annotations

import pytest
import torch

from nascli.errors import GenotypeError
from nascli.genotype_file import load_genotype
from nascli.runtime.config import build_option


@pytest.fixture(scope="module")
def space():
    return build_option("search_space", "baseline")


def _stem_output(net: torch.nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
    """The map after each network's stem (ResNet: conv1 and its max pool; the others: features[0])."""
    if name == "resnet18":
        return net.maxpool(net.relu(net.bn1(net.conv1(x))))
    return net.features[0](x)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "efficientnet_b0"])
def test_small_inputs_keep_their_size_through_the_stem_and_large_ones_halve_or_quarter(space, name: str) -> None:
    small, large = space.build_network(name, 5, 1, 32).eval(), space.build_network(name, 5, 3, 96).eval()
    with torch.no_grad():
        assert _stem_output(small, name, torch.randn(2, 1, 32, 32)).shape[-1] == 32
        assert _stem_output(large, name, torch.randn(2, 3, 96, 96)).shape[-1] == (24 if name == "resnet18" else 48)
        assert small(torch.randn(2, 1, 32, 32)).shape == (2, 5)


def test_each_network_is_a_published_genotype_and_other_names_are_refused(space) -> None:
    loaded, arch, record = load_genotype("efficientnet_b0")
    assert loaded.name == "baseline" and arch == "efficientnet_b0" and record["arch_str"] == "efficientnet_b0"
    with pytest.raises(GenotypeError, match="is not a baseline network; they are resnet18, mobilenet_v3_small"):
        space.from_str("vgg16")


def test_every_batchnorm_updates_its_statistics_at_the_spaces_momentum(space) -> None:
    """torchvision's 0.01 left MobileNetV3-Small predicting one class after 10 epochs on digits."""
    for name in space.published:
        net = space.build_network(name, 10, 1, 8)
        assert {m.momentum for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)} == {0.1}
    slow = type(space)(**{**space.config(), "bn_momentum": 0.01}).build_network("resnet18", 10, 1, 8)
    assert {m.momentum for m in slow.modules() if isinstance(m, torch.nn.BatchNorm2d)} == {0.01}
