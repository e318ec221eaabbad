"""Weight inheritance by structure: the discrete network of an architecture, with a supernet's
weights for its path, computes exactly what the supernet computes on that path (cell spaces here;
mobilenet's elastic blocks in tests/spaces/test_mobilenet.py)."""

from __future__ import annotations

import pytest
import torch
from configured import space
from torch import nn

from nascli.errors import ConfigError
from nascli.spaces.darts.genotype import Genotype
from nascli.weight_sharing.inherit import inherit_network
from nascli.weight_sharing.mixing import PartialChannels, SinglePath
from nascli.weight_sharing.supernet import Supernet, build_supernet

NB201_ARCH = ("nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none", "nor_conv_3x3")
DARTS_ARCH = Genotype(
    normal=(("sep_conv_3x3", 0), ("dil_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_5x5", 2),
            ("dil_conv_5x5", 1), ("sep_conv_3x3", 3), ("skip_connect", 2), ("dil_conv_3x3", 4)),
    normal_concat=(2, 3, 4, 5),
    reduce=(("skip_connect", 1), ("sep_conv_5x5", 0), ("dil_conv_3x3", 2), ("skip_connect", 0),
            ("sep_conv_3x3", 3), ("dil_conv_5x5", 1), ("sep_conv_3x3", 4), ("skip_connect", 2)),
    reduce_concat=(2, 3, 4, 5),
)


def trained(search_space, in_channels: int = 1, size: int = 8) -> Supernet:
    """A single-path supernet of the space as if trained: random weights and BN statistics."""
    supernet = build_supernet(search_space, 10, in_channels, size, SinglePath())
    torch.manual_seed(1)
    with torch.no_grad():
        for name, tensor in supernet.state_dict().items():
            if tensor.is_floating_point() and not name.startswith("alpha_"):
                tensor.copy_(torch.rand_like(tensor) + 0.5 if "running_var" in name else torch.randn_like(tensor) * 0.3)
    return supernet.eval()


def _inherited_equals_the_path(search_space, arch, in_channels: int = 1, size: int = 8) -> nn.Module:
    supernet = trained(search_space, in_channels, size)
    network, inherited = inherit_network(supernet, arch, 10, in_channels, size)
    assert 0 < inherited <= len(network.state_dict())
    x = torch.randn(3, in_channels, size, size)
    with torch.no_grad():
        torch.testing.assert_close(network.eval()(x), supernet(x, arch=arch), atol=1e-5, rtol=1e-5)
    return network


def test_an_nb201_network_inherits_exactly_its_supernet_path() -> None:
    _inherited_equals_the_path(space("nb201", channels=4, cells_per_stage=1), NB201_ARCH)


def test_a_darts_network_inherits_exactly_its_supernet_path() -> None:
    darts = space("darts", channels=4, layers=5, auxiliary=True)  # the auxiliary head is the network's own
    network = _inherited_equals_the_path(darts, DARTS_ARCH, in_channels=3, size=9)
    assert network.auxiliary_head is not None


def test_what_the_supernet_lacks_keeps_the_networks_initialisation() -> None:
    """The search network's affine-free BatchNorms have no scale and shift: the network keeps its own
    (ones and zeros), and inherits everything else of the path (the pools' search-only BN is left out)."""
    darts = space("darts", channels=4, layers=5)
    arch = darts.smallest()  # every node max-pools: only the preprocessing has weights in the cells
    network, inherited = inherit_network(trained(darts), arch, 10, 1, 8)
    own = network.state_dict()
    kept = {k for k in own if k.endswith((".weight", ".bias")) and ".preprocess" in k and own[k].dim() == 1}
    assert kept and all(torch.all(own[k] == (1.0 if k.endswith("weight") else 0.0)) for k in kept)
    assert inherited == len(own) - len(kept)


def test_a_partial_channel_supernet_cannot_hand_its_weights_on() -> None:
    nb201 = space("nb201", channels=4, cells_per_stage=1)
    with pytest.raises(ConfigError, match="1/K of the channels"):
        inherit_network(build_supernet(nb201, 10, 1, 8, PartialChannels(2)), NB201_ARCH, 10, 1, 8)
