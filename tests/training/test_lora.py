"""LoRA on convolutions: the adapter is a low-rank weight update, exact when merged, for dense,
grouped and depthwise convolutions alike."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nascli.errors import ConfigError
from nascli.training.lora import LoRAConv2d, add_lora, has_lora, merge_lora

CONVS = {  # (in, out, kernel, stride, padding, dilation, groups): the kinds DARTS' ops use
    "dense 3x3": (6, 8, 3, 1, 1, 1, 1),
    "pointwise": (6, 8, 1, 1, 0, 1, 1),
    "grouped, strided": (6, 8, 3, 2, 1, 1, 2),
    "depthwise, dilated": (6, 6, 5, 1, 4, 2, 6),
}


def _adapted(spec: tuple[int, ...], rank: int = 2) -> LoRAConv2d:
    c_in, c_out, k, stride, padding, dilation, groups = spec
    torch.manual_seed(0)
    lora = LoRAConv2d(nn.Conv2d(c_in, c_out, k, stride, padding, dilation, groups, bias=True), rank=rank, alpha=3.0)
    with torch.no_grad():
        lora.lora_b.normal_()  # a trained adapter (B starts at zero)
    return lora


@pytest.mark.parametrize("kind", CONVS)
def test_merged_conv_equals_conv_plus_adapter(kind: str) -> None:
    lora = _adapted(CONVS[kind])
    base = lora.base
    x = torch.randn(2, base.in_channels, 9, 9)
    adapter_only = nn.functional.conv2d(x, lora.delta(), None, base.stride, base.padding, base.dilation, base.groups)
    expected = base(x) + adapter_only  # a convolution is linear in its weight
    assert torch.allclose(lora(x), expected, atol=1e-5)
    merged = lora.merged()
    assert type(merged) is nn.Conv2d and torch.allclose(merged(x), lora(x), atol=1e-6)


def test_a_new_adapter_starts_as_the_pretrained_convolution() -> None:
    c_in, c_out, k, stride, padding, dilation, groups = CONVS["depthwise, dilated"]
    base = nn.Conv2d(c_in, c_out, k, stride, padding, dilation, groups)
    x = torch.randn(1, c_in, 9, 9)
    before = base(x)
    lora = LoRAConv2d(base, rank=4, alpha=4.0)
    assert torch.equal(lora(x), before)
    assert not base.weight.requires_grad and lora.lora_a.requires_grad and lora.lora_b.requires_grad


def test_rank_is_capped_at_the_rank_of_the_weight_matrix() -> None:
    depthwise = LoRAConv2d(nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False), rank=16, alpha=16.0)
    assert depthwise.rank == 6  # the 6 x 9 matrix has rank 6 at most
    assert depthwise.lora_a.shape == (6, 9) and depthwise.lora_b.shape == (6, 6)
    assert depthwise.scaling == 1.0  # alpha / the configured rank


def test_add_lora_adapts_the_targeted_convolutions_and_merge_restores_the_network() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False),
                        nn.Conv2d(8, 4, 1, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    keys = set(net.state_dict())
    assert add_lora(net, rank=2, alpha=2.0, targets="dense") == ["0", "2"]
    # by hand: rank * (out + in/groups * k * k) per adapted conv
    assert sum(p.numel() for n, p in net.named_parameters() if "lora_" in n) == 2 * (8 + 27) + 2 * (4 + 8)
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, LoRAConv2d):
                m.lora_b.normal_()
    adapted = net(x)
    assert merge_lora(net) == 2 and not has_lora(net)
    assert set(net.state_dict()) == keys and torch.allclose(net(x), adapted, atol=1e-5)
    assert add_lora(net, rank=1, alpha=1.0, targets="all") == ["0", "1", "2"]


@pytest.mark.parametrize(("rank", "alpha", "targets", "message"), [
    (0, 1.0, "all", "rank must be at least 1"),
    (2, 0.0, "all", "alpha must be positive"),
    (2, 1.0, "linear", "targets must be one of all, dense"),
])
def test_bad_options_are_config_errors(rank: int, alpha: float, targets: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        add_lora(nn.Sequential(nn.Conv2d(1, 2, 1)), rank=rank, alpha=alpha, targets=targets)
