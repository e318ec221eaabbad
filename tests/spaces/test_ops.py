"""The candidate ops: every op of both tables gives the shape its edge promises, for any stride."""

from __future__ import annotations

import pytest
import torch

from nascli.spaces.ops import (
    DARTS_OPS,
    NB201_OPS,
    FactorizedReduce,
    Identity,
    ResNetBasicBlock,
    SepConv,
    Zero,
)

ALL_OPS = [(table, name) for table, ops in (("nb201", NB201_OPS), ("darts", DARTS_OPS)) for name in ops]


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_op_tables_have_the_reference_names():
    assert list(NB201_OPS) == ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    assert list(DARTS_OPS) == [
        "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
        "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
    ]


@pytest.mark.parametrize("table,name", ALL_OPS)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("c_in,c_out", [(6, 6), (4, 8)])
@pytest.mark.parametrize("size", [8, 7])
def test_every_op_outputs_c_out_channels_at_the_strided_size(table, name, stride, c_in, c_out, size):
    ops = NB201_OPS if table == "nb201" else DARTS_OPS
    op = ops[name](c_in, c_out, stride, True)
    out = op(torch.randn(2, c_in, size, size))
    expected = -(-size // stride)  # ceil: what a padded 3x3 convolution with this stride gives
    assert out.shape == (2, c_out, expected, expected)


def test_zero_is_zeros_of_the_strided_shape():
    out = Zero(c_out=5, stride=2)(torch.randn(2, 3, 7, 7))
    assert out.shape == (2, 5, 4, 4)
    assert not out.any()


def test_skip_connect_is_identity_only_when_shapes_match():
    assert isinstance(DARTS_OPS["skip_connect"](8, 8, 1, True), Identity)
    assert isinstance(DARTS_OPS["skip_connect"](8, 8, 2, True), FactorizedReduce)
    assert isinstance(NB201_OPS["skip_connect"](8, 16, 1, True), FactorizedReduce)


def test_factorized_reduce_sees_both_pixel_offsets():
    reduce = FactorizedReduce(1, 2, stride=2).eval()
    torch.nn.init.ones_(reduce.convs[0].weight)
    torch.nn.init.ones_(reduce.convs[1].weight)
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1, 1] = 1.0  # an odd pixel, skipped by a plain stride-2 1x1 convolution
    out = reduce(x).detach()
    assert not out[0, 0].any()  # first half reads even pixels only
    assert out[0, 1, 0, 0] > 0 and out[0, 1].count_nonzero() == 1  # the shifted half reads it


def test_sep_conv_is_double_stacked_like_darts():
    c, k = 16, 3
    one_separable = c * k * k + c * c + 2 * c  # depthwise + pointwise + batch-norm affine
    assert n_params(SepConv(c, c, k, 1, 1)) == 2 * one_separable


def test_affine_false_leaves_batch_norm_without_parameters():
    assert n_params(DARTS_OPS["dil_conv_3x3"](8, 8, 1, False)) == 8 * 9 + 8 * 8


@pytest.mark.parametrize("size", [32, 8, 5])
def test_resnet_basic_block_halves_any_size(size):
    block = ResNetBasicBlock(4, 8, stride=2)
    assert block(torch.randn(2, 4, size, size)).shape == (2, 8, -(-size // 2), -(-size // 2))
