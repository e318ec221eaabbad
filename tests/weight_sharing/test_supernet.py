"""Weight-sharing supernets of both cell spaces, built from each space's outline with the mixing a
strategy supplies: shapes under every mixing, single paths that run exactly their architecture, and
genotype derivation from hand-made architecture weights."""

from __future__ import annotations

import math
import random

import pytest
import torch
from configured import space as configured_space

from nascli.errors import ConfigError
from nascli.spaces.darts.genotype import Genotype
from nascli.spaces.outline import Site
from nascli.weight_sharing.edges import ForwardState, MixedEdge, channel_shuffle
from nascli.weight_sharing.mixing import EdgeStep, Gumbel, PartialChannels, SinglePath, Softmax
from nascli.weight_sharing.supernet import Supernet, build_supernet

SPACES = ("nb201", "darts")
MIXINGS = {"darts": Softmax, "pcdarts": lambda: PartialChannels(4), "gdas": Gumbel, "single_path": SinglePath}
MODES = tuple(MIXINGS)
SIZES = {"nb201": {"channels": 4, "cells_per_stage": 1}, "darts": {"channels": 4, "layers": 5}}


def tiny(space_name: str, mode: str, in_channels: int = 1, size: int = 8):
    """A small space (4 channels; nb201 one cell per stage, darts 5 cells) and its supernet."""
    torch.manual_seed(0)
    space = configured_space(space_name, **SIZES[space_name])
    net = build_supernet(space, 10, in_channels, size, MIXINGS[mode]())
    assert isinstance(net, Supernet) and net.mode == mode
    return space, net


@pytest.mark.parametrize("space_name", SPACES)
@pytest.mark.parametrize("mode", MODES)
def test_forward_backward_shapes_in_every_mode(space_name, mode):
    space, net = tiny(space_name, mode, in_channels=3, size=9)  # odd size: reductions round up
    x = torch.randn(3, 3, 9, 9)
    arch = space.sample(random.Random(1)) if mode == "single_path" else None
    logits = net(x, arch=arch)
    assert logits.shape == (3, 10)
    logits.logsumexp(1).sum().backward()
    assert all(p.grad is None or p.grad.shape == p.shape for p in net.parameters())
    alphas = net.arch_parameters()
    assert [a.shape for a in alphas if a.dim() == 2] == [(net.num_edges, len(net.op_names))] * len(net.cell_types)
    if mode != "single_path":  # the mixture (or sample) reaches every cell type's alpha
        assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in alphas)
    if mode == "pcdarts":
        assert sum(a.dim() == 1 for a in alphas) == len(net.cell_types)  # edge-normalisation betas


def test_single_path_without_an_arch_is_a_clear_error():
    _, net = tiny("nb201", "single_path")
    with pytest.raises(ValueError, match="arch="):
        net(torch.randn(2, 1, 8, 8))


def _ops_with_grads(net) -> set[tuple[int, int, int]]:
    """(edge module id, op index) of every candidate op whose parameters received a gradient."""
    found = set()
    for m_index, module in enumerate(m for m in net.modules() if isinstance(m, MixedEdge)):
        for k, op in enumerate(module.ops):
            grads = [p.grad for p in op.parameters()]
            if any(g is not None for g in grads):
                found.add((m_index, k))
    return found


def _ops_with_params(net) -> set[tuple[int, int]]:
    return {(m_index, k) for m_index, module in enumerate(m for m in net.modules() if isinstance(m, MixedEdge))
            for k, op in enumerate(module.ops) if any(True for _ in op.parameters())}


@pytest.mark.parametrize("space_name", SPACES)
def test_single_path_touches_exactly_the_ops_of_the_arch(space_name):
    space, net = tiny(space_name, "single_path")
    arch = space.sample(random.Random(3))
    net(torch.randn(4, 1, 8, 8), arch=arch).sum().backward()
    picks = space.picks(arch)
    expected = {(m_index, net.op_names.index(picks[site.key])) for m_index, (site, _) in enumerate(net.made)
                if picks.get(site.key) is not None}
    assert _ops_with_grads(net) == expected & _ops_with_params(net)
    assert all(a.grad is None for a in net.arch_parameters())


def test_single_path_equals_the_mixture_when_alphas_pick_that_path():
    """GDAS in eval mode runs the argmax path: the same function as single_path on the derived arch."""
    space, net = tiny("nb201", "gdas")
    with torch.no_grad():
        net.alpha_cell.copy_(torch.eye(5)[[1, 3, 2, 4, 3, 0]] * 5)
    net.eval()
    x = torch.randn(4, 1, 8, 8)
    arch = net.derive()
    assert arch == ("skip_connect", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "nor_conv_3x3", "none")
    torch.testing.assert_close(net(x), net(x, arch=arch))


def test_gdas_samples_one_op_per_edge_from_its_generator():
    _, net = tiny("darts", "gdas")
    net.tau = 1.0
    plans = []
    for _ in range(2):
        net.generator = torch.Generator().manual_seed(7)
        plans.append([step.index for step in net.mixing.plan(net.alpha("normal"), net.edge_weights("normal"), True)])
    assert plans[0] == plans[1] and len(plans[0]) == 14  # same seed, same sample
    step = net.mixing.plan(net.alpha("normal"), net.edge_weights("normal"), True)[0]
    assert step.weights is None and float(step.scale.detach()) == pytest.approx(1.0)  # hard one-hot, straight-through


# --- derivation -----------------------------------------------------------------------------------
def _logits(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows).clamp_min(1e-6).log()  # softmax(log w) = w for rows that sum to 1


def _darts_rows(spec: dict[int, tuple[str, float]], ops: tuple[str, ...], none_weight: dict[int, float]) -> list[list[float]]:
    """14 rows: edge e puts `weight` on its op and spreads the rest; `none` may take a large share."""
    rows = []
    for e in range(14):
        op, weight = spec.get(e, ("max_pool_3x3", 0.1))
        none = none_weight.get(e, 0.0)
        row = [(1.0 - weight - none) / (len(ops) - 2)] * len(ops)
        row[ops.index(op)] = weight
        row[ops.index("none")] = none
        rows.append(row)
    return rows


def test_darts_derivation_keeps_the_two_strongest_non_none_inputs_per_node():
    space, net = tiny("darts", "darts")
    ops = net.op_names
    # edges per node: node0 = 0,1  node1 = 2,3,4  node2 = 5..8  node3 = 9..13 (sources 0..node+1)
    normal = _darts_rows({0: ("sep_conv_3x3", 0.5), 1: ("skip_connect", 0.4),
                          2: ("dil_conv_3x3", 0.2), 3: ("sep_conv_5x5", 0.6), 4: ("avg_pool_3x3", 0.3),
                          5: ("sep_conv_3x3", 0.7), 8: ("dil_conv_5x5", 0.35),
                          9: ("skip_connect", 0.3), 13: ("sep_conv_3x3", 0.45)},
                         ops, none_weight={2: 0.75, 6: 0.8})  # `none` dominates edges 2 and 6: never chosen
    reduce = _darts_rows({0: ("max_pool_3x3", 0.9), 1: ("max_pool_3x3", 0.8), 3: ("skip_connect", 0.5),
                          2: ("avg_pool_3x3", 0.4), 7: ("max_pool_3x3", 0.6), 6: ("skip_connect", 0.55),
                          12: ("sep_conv_5x5", 0.3), 10: ("dil_conv_3x3", 0.25)}, ops, none_weight={})
    with torch.no_grad():
        net.alpha_normal.copy_(_logits(normal))
        net.alpha_reduce.copy_(_logits(reduce))
    genotype = net.derive()
    assert genotype == Genotype(
        normal=(("sep_conv_3x3", 0), ("skip_connect", 1), ("sep_conv_5x5", 1), ("avg_pool_3x3", 2),
                ("sep_conv_3x3", 0), ("dil_conv_5x5", 3), ("sep_conv_3x3", 4), ("skip_connect", 0)),
        normal_concat=(2, 3, 4, 5),
        reduce=(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 1), ("avg_pool_3x3", 0),
                ("max_pool_3x3", 2), ("skip_connect", 1), ("sep_conv_5x5", 3), ("dil_conv_3x3", 1)),
        reduce_concat=(2, 3, 4, 5),
    )
    assert space.from_str(space.to_str(genotype)) == genotype


def test_pcdarts_derivation_weights_ops_by_the_edge_normalisation():
    _, net = tiny("darts", "pcdarts")
    ops = net.op_names
    rows = _darts_rows({0: ("sep_conv_3x3", 0.5), 1: ("sep_conv_3x3", 0.5), 2: ("sep_conv_3x3", 0.5),
                        3: ("sep_conv_3x3", 0.5), 4: ("sep_conv_3x3", 0.5)}, ops, none_weight={})
    with torch.no_grad():
        net.alpha_normal.copy_(_logits(rows))
        net.beta_normal.zero_()
        net.beta_normal[4] = 3.0  # node 1 strongly prefers its edge from state 2
    assert net.derive().normal[2:4] == (("sep_conv_3x3", 2), ("sep_conv_3x3", 0))


def test_derivation_never_picks_none_and_gives_ties_to_the_earlier_op():
    space = configured_space("darts", steps=1, multiplier=1)  # the rule is the space's: derive(weights)
    rows = [[0.9] + [0.1 / 7] * 7, [0.0, 0.5, 0.5, 0, 0, 0, 0, 0]]  # input 0: `none` dominates; input 1: a tie
    genotype = space.derive({"normal": rows, "reduce": rows})
    assert genotype.normal == (("max_pool_3x3", 1), ("max_pool_3x3", 0))


def test_nb201_derivation_is_the_argmax_of_every_edge_none_included():
    _, net = tiny("nb201", "darts")
    choice = [0, 4, 2, 1, 3, 1]
    with torch.no_grad():
        net.alpha_cell.copy_(torch.eye(5)[choice] * 2 + 0.01 * torch.arange(5.0))
    assert net.derive() == tuple(net.op_names[k] for k in choice)
    weights = net.arch_weights()["cell"]
    assert weights.shape == (6, 5) and torch.allclose(weights.sum(1), torch.ones(6))


# --- building -------------------------------------------------------------------------------------
def test_a_supernet_has_its_space_size_and_the_networks_structure():
    """One outline: the supernet's fixed modules stand where the network's do, same shapes."""
    space = configured_space("darts", channels=4, layers=5)
    net = build_supernet(space, 10, 3, 32, Softmax())
    assert len(net.network.cells) == 5 and net.network.stem[0].out_channels == 12
    assert [cell.edges["0"].key[0] for cell in net.network.cells] == ["normal", "reduce", "normal", "reduce", "normal"]
    network = space.build_network(space.sample(random.Random(0)), 10, 3, 32)
    fixed = {k: v.shape for k, v in network.state_dict().items() if ".edges." not in k}
    theirs = net.network.state_dict()
    missing = {k for k in fixed if k not in theirs}
    assert {k.rsplit(".", 2)[0] for k in missing} <= {k.rsplit(".", 2)[0] for k in fixed}  # nothing stands elsewhere
    assert all(k.endswith((".weight", ".bias")) and ".preprocess" in k for k in missing)  # the search net's affine-free BNs
    assert all(theirs[k].shape == shape for k, shape in fixed.items() if k in theirs)
    nb = build_supernet(configured_space("nb201", channels=4, cells_per_stage=2), 10, 3, 32, Softmax())
    assert sum(type(m).__name__ == "NB201Cell" for m in nb.network.cells) == 6  # 3 stages of N=2


def test_mixings_the_sites_cannot_take_are_config_errors():
    with pytest.raises(ConfigError, match="divide"):
        build_supernet(configured_space("darts", channels=6), 10, 3, 32, PartialChannels(4))
    with pytest.raises(ConfigError, match="share their weights"):
        build_supernet(configured_space("mobilenet", channels=4), 10, 3, 8, PartialChannels(2))
    with pytest.raises(ConfigError, match="no outline"):
        build_supernet(configured_space("nb101", channels=8, cells_per_stack=1), 10, 3, 8, Softmax())


def test_channel_shuffle_is_a_permutation():
    x = torch.arange(8.0).view(1, 8, 1, 1)
    assert channel_shuffle(x, 4).flatten().tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
    assert math.isclose(channel_shuffle(x, 2).sum().item(), x.sum().item())


@pytest.mark.parametrize("stride", [1, 2])
def test_fast_mixture_equals_the_plain_weighted_sum_of_the_ops(stride):
    """Shared ReLUs and weights folded into the final BNs compute exactly sum_k w_k * op_k(x)."""
    from nascli.spaces.darts.outline import edge_site

    torch.manual_seed(0)
    state = ForwardState()
    site: Site = edge_site("normal", 0, 0, 0, 4, stride)
    edge = MixedEdge(site, Softmax(), state)
    x = torch.randn(6, 4, 7, 7)
    alpha = torch.randn(8, requires_grad=True)
    w = torch.softmax(alpha, 0)
    state.begin({"normal": [EdgeStep(weights=w.unbind(0), scale=torch.tensor(0.7))]})
    fast = edge(x)
    (g_fast,) = torch.autograd.grad(fast.square().sum(), alpha)
    w = torch.softmax(alpha, 0)
    plain = 0.7 * sum(w[k] * op(x) for k, op in enumerate(edge.ops))
    (g_plain,) = torch.autograd.grad(plain.square().sum(), alpha)
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g_fast, g_plain, rtol=1e-4, atol=1e-6)
    edge.eval()  # running statistics, too
    state.begin({"normal": [EdgeStep(index=4)]})
    torch.testing.assert_close(edge(x), edge.ops[4](x))
    state.end()
    with pytest.raises(RuntimeError, match="inside its supernet"):
        edge(x)


def test_a_state_passed_on_unchanged_keeps_a_relu_of_its_own():
    """nb201 node 1 = skip_connect(x) is the tensor x itself, yet another state: as the supernets always
    did, the edges reading it share one ReLU, and those reading x another (same autograd graph)."""
    state = ForwardState()
    x = torch.randn(2, 3)
    assert state.relu(x, 0) is state.relu(x, 0)
    assert state.relu(x, 1) is not state.relu(x, 0)


@pytest.mark.slow
@pytest.mark.parametrize("space_name", SPACES)
def test_channels_last_gives_the_same_gradients(space_name):
    """NHWC (trainer.channels_last) is a layout, not a different function: same logits and gradients."""
    import copy

    _, net = tiny(space_name, "darts")
    net = net.double()
    other = copy.deepcopy(net).to(memory_format=torch.channels_last)
    x = torch.randn(8, 1, 8, 8, dtype=torch.float64)
    a, b = net(x), other(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(a, b)
    a.square().sum().backward()
    b.square().sum().backward()
    for p, q in zip(net.parameters(), other.parameters()):
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad.contiguous())


def test_normalising_over_processes_swaps_every_batchnorm_and_refuses_elastic_blocks():
    """Data-parallel training: the cell spaces' BatchNorms, the candidates' folded ones included,
    normalise over the global batch (the two-process equivalence is tests/strategies/
    test_darts_data_parallel.py); an elastic block's sliced BatchNorms cannot, which is said."""
    from torch import nn

    from nascli.training.data_parallel import GlobalBatchNorm

    _, net = tiny("nb201", "darts")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.normalise_over_processes(torch.device("cpu"))
    assert not any(type(m) is nn.BatchNorm2d for m in net.modules())
    edges = [m for m in net.modules() if isinstance(m, MixedEdge)]
    assert all(type(c.bn) is GlobalBatchNorm for e in edges for c in e.candidates if c.bn is not None)
    assert any(c.bn is not None for e in edges for c in e.candidates)
    assert net.state_dict().keys() == before.keys()  # checkpoints of one process and of several are alike
    mobilenet = build_supernet(configured_space("mobilenet", channels=4), 10, 3, 8, Softmax())
    with pytest.raises(ConfigError, match="trainer.sync_batchnorm=false"):
        mobilenet.normalise_over_processes(torch.device("cpu"))
