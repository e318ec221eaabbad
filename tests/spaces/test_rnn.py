"""search_space=rnn: the DARTS recurrent cell's update equations by hand, the published cells at
the paper's size, the supernet (its mixture and its derived genotype), and the text networks'
heads."""

from __future__ import annotations

import random

import pytest
import torch

from nascli.errors import ConfigError, GenotypeError
from nascli.runtime.config import build_option
from nascli.spaces.rnn.genotype import PUBLISHED, RNNGenotype
from nascli.spaces.rnn.outline import site_row
from nascli.weight_sharing.mixing import PartialChannels, Softmax
from nascli.weight_sharing.supernet import build_supernet

TINY = {"nodes": 2, "emsize": 4, "nhid": 4, "dropout": 0.0, "dropouth": 0.0, "dropoutx": 0.0, "dropouti": 0.0}


def space(**options):
    return build_option("search_space", "rnn", {**TINY, **options})


def test_a_two_node_cell_computes_the_highway_updates_by_hand() -> None:
    torch.manual_seed(0)
    arch = RNNGenotype((("tanh", 0), ("relu", 0)), (1, 2))
    net = space().build_network(arch, 2, 5, 1).eval()
    cell = net.cell
    x = torch.randn(1, 4)
    h_prev = torch.randn(1, 4)
    # s0 = h + sigmoid(c0) * (tanh(h0) - h), [c0, h0] = [x, h] W0
    c0, h0 = (torch.cat([x, h_prev], 1) @ cell.w0.weight.T).split(4, dim=1)
    s0 = h_prev + torch.sigmoid(c0) * (torch.tanh(h0) - h_prev)
    # node 1 = tanh on s0, node 2 = relu on s0, each with its own W_i
    c1, h1 = (s0 @ cell.ws[0].weight.T).split(4, dim=1)
    s1 = s0 + torch.sigmoid(c1) * (torch.tanh(h1) - s0)
    c2, h2 = (s0 @ cell.ws[1].weight.T).split(4, dim=1)
    s2 = s0 + torch.sigmoid(c2) * (torch.relu(h2) - s0)
    with torch.no_grad():
        torch.testing.assert_close(cell.step(x, h_prev, None, None), (s1 + s2) / 2)
        # the network: embedding, the cell from a zero state, pooled, the classifier
        ids = torch.tensor([[3]])
        emb = net.encoder.weight[3:4]
        out = cell.step(emb, torch.zeros(1, 4), None, None)
        torch.testing.assert_close(net(ids), out @ net.decoder.weight.T + net.decoder.bias)


def test_the_published_darts_cell_at_the_papers_size_has_its_23m_parameters() -> None:
    big = build_option("search_space", "rnn", {"emsize": 850, "nhid": 850})
    with torch.device("meta"):
        net = big.build_network(PUBLISHED["DARTS_RNN"], 10_000, 10_000, 35)
    params = sum(p.numel() for p in net.parameters())  # the decoder shares the embedding's weights
    assert net.decoder.weight is net.encoder.weight and abs(params / 22.96e6 - 1) < 0.01


def test_published_cells_read_back_and_the_enas_cell_builds_its_own_size() -> None:
    s = space()
    assert s.from_str("Genotype(recurrent=[('sigmoid', 0), ('relu', 1), ('relu', 1), ('identity', 1), ('tanh', 2), "
                      "('sigmoid', 5), ('tanh', 3), ('relu', 5)], concat=range(1, 9))") == PUBLISHED["DARTS_RNN"]
    enas = PUBLISHED["ENAS_PTB"]
    assert s.from_str(s.to_str(enas)) == enas and s.from_json(s.to_json(enas)) == enas
    net = s.build_network(enas, 7, 7, 5).eval()
    assert len(net.cell.ws) == 11 and net.cell.concat == (2, 5, 6, 9, 10, 11)
    assert net(torch.randint(1, 7, (2, 5))).shape == (2, 5, 7)  # head auto: a language model
    with pytest.raises(GenotypeError, match="nodes=2 has cells of 2 nodes"):
        s.encode(enas)
    with pytest.raises(GenotypeError, match="node 2 reads state 2"):
        s.from_str("Genotype(recurrent=[('tanh', 0), ('relu', 2)], concat=[1, 2])")
    with pytest.raises(GenotypeError, match="unknown op 'conv'"):
        s.from_json({"recurrent": [["conv", 0], ["relu", 1]], "concat": [1, 2]})


def test_a_supernet_with_peaked_weights_is_the_cell_it_derives() -> None:
    s = space(nodes=3)
    torch.manual_seed(0)
    supernet = build_supernet(s, 6, 6, 4, Softmax()).eval()
    want = RNNGenotype((("sigmoid", 0), ("identity", 0), ("relu", 2)), (1, 2, 3))
    with torch.no_grad():
        alpha = supernet.alpha("cell")
        alpha.fill_(-40.0)
        alpha[:, 0] = 40.0  # `none` on every (node, state) row a row-wise softmax mixes ...
        for node, (op, pred) in enumerate(want.recurrent, start=1):  # ... but the cell's own
            alpha[site_row(node, pred), 0] = -40.0
            alpha[site_row(node, pred), ("none", "tanh", "relu", "sigmoid", "identity").index(op)] = 40.0
    assert supernet.derive() == want and supernet.alpha("cell").shape == (6, 5)  # 1 + 2 + 3 (node, state) rows
    x = s.example_input(2, 6, 4)
    with torch.no_grad():
        torch.testing.assert_close(supernet(x), supernet(x, arch=want), atol=1e-5, rtol=1e-5)
        uniform = supernet.alpha("cell").zero_()
        assert uniform.sum() == 0 and not torch.allclose(supernet(x), supernet(x, arch=want))


@pytest.mark.parametrize("mixing", [Softmax(), PartialChannels(1)], ids=["darts", "edge-normalised"])
def test_a_supernet_node_mixed_in_one_go_is_the_sum_of_its_sites(mixing) -> None:
    """The supernet computes each node's sites together (one batched product); the sites one by
    one give the same logits and the same gradients, edge weights included."""
    s = space(nodes=4)
    torch.manual_seed(0)
    supernet = build_supernet(s, 7, 7, 5, mixing)
    with torch.no_grad():
        for p in supernet.arch_parameters():
            p.normal_()
    x = s.example_input(3, 7, 5)
    cell = supernet.network.cell
    results = []
    for joint in (cell.joint, [False] * len(cell.joint)):
        cell.joint = joint
        supernet.zero_grad()
        supernet(x).square().sum().backward()
        results.append([supernet(x).detach()] + [p.grad.clone() for p in supernet.parameters()])
    assert any(results[0][0].ne(0).flatten()) and len(results[0]) == len(results[1])
    for together, one_by_one in zip(*results):
        torch.testing.assert_close(together, one_by_one, atol=1e-6, rtol=1e-5)


def test_classification_pools_the_unpadded_tokens() -> None:
    torch.manual_seed(0)
    s = space(head="last")
    arch = s.sample(random.Random(0))
    net = s.build_network(arch, 3, 9, 4).eval()
    short = torch.tensor([[5, 6, 0, 0]])  # two tokens, padded
    with torch.no_grad():
        assert torch.equal(net(short), net(torch.tensor([[5, 6]])))
        mean = space(head="mean").build_network(arch, 3, 9, 4).eval()
        mean.load_state_dict(net.state_dict())
        assert torch.allclose(mean(short), mean(torch.tensor([[5, 6]])))


def test_training_mode_drops_out_and_keeps_the_activation_penalty() -> None:
    s = build_option("search_space", "rnn", {"nodes": 2, "emsize": 8, "nhid": 8, "ar": 1.0})
    net = s.build_network(s.sample(random.Random(1)), 11, 11, 6).train()
    x = s.example_input(3, 11, 6)
    torch.manual_seed(0)
    a = net(x)
    torch.manual_seed(1)
    assert not torch.equal(a, net(x)) and net.penalty is not None and net.penalty > 0
    net.carry = True
    net.eval()(x)
    assert net.hidden is not None and net.hidden.shape == (3, 8)


def test_sizes_that_cannot_be_built_are_refused() -> None:
    with pytest.raises(ConfigError, match="emsize must equal nhid"):
        space(emsize=4, nhid=3, tie_weights=True).build_network(PUBLISHED["DARTS_RNN"], 5, 5, 3)
    with pytest.raises(ConfigError, match="head=lm predicts the next token"):
        space(head="lm", tie_weights=False).build_network(space().sample(random.Random(0)), 2, 5, 3)
