"""The MobileNet (MBConv macro) space: its string and JSON forms, genes, published reference points,
networks for small inputs, its supernet under every mixing (elastic blocks: candidates share one
block's weights), weight inheritance from it, its cost units, and a debug search with a strategy of
each kind (gdas with a latency table too)."""

from __future__ import annotations

import json
import random

import pytest
import torch
from configured import space as configured_space

from nascli.errors import ConfigError, GenotypeError
from nascli.runtime.config import build_option
from nascli.spaces.mobilenet import MobileNetSpace
from nascli.spaces.mobilenet.genotype import PUBLISHED, SKIP, Block, MobileNetArch
from nascli.spaces.outline import MASKED
from nascli.weight_sharing.inherit import inherit_network
from nascli.weight_sharing.mixing import Gumbel, PartialChannels, SinglePath, Softmax
from nascli.weight_sharing.supernet import Supernet, build_supernet

V2 = PUBLISHED["MOBILENET_V2"]
V2_TEXT = ("d2:k3_e6,k3_e6,k3_e6,k3_e6|d3:k3_e6,k3_e6,k3_e6,k3_e6|d4:k3_e6,k3_e6,k3_e6,k3_e6|"
           "d3:k3_e6,k3_e6,k3_e6,k3_e6|d3:k3_e6,k3_e6,k3_e6,k3_e6|d1:k3_e6")


def mobilenet(**options) -> MobileNetSpace:
    """The shipped mobilenet space (conf/search_space/mobilenet.yaml) with some options changed."""
    return configured_space("mobilenet", **options)


@pytest.fixture(scope="module")
def space() -> MobileNetSpace:
    return mobilenet()


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- text, JSON and genes ----------------------------------------------------------------------------
def test_the_string_form_lists_depths_and_every_slot(space):
    assert space.to_str(V2) == V2_TEXT
    assert space.from_str(V2_TEXT) == V2 and space.from_str(f"  {V2_TEXT}\n") == V2
    assert V2.depths == (2, 3, 4, 3, 3, 1) and V2.blocks[0][0] == Block(3, 6, False) == (3, 6, False)
    rng = random.Random(0)
    for _ in range(100):
        arch = space.sample(rng)
        assert space.from_str(space.to_str(arch)) == arch
        assert space.from_json(json.loads(json.dumps(space.to_json(arch)))) == arch
        assert space.decode(space.encode(arch)) == arch and hash(arch) == hash(space.validate(arch))
    with pytest.raises(GenotypeError, match="must be text"):
        space.from_str(None)


@pytest.mark.parametrize("text,problem", [
    ("", "stage 1"),
    ("k3_e6,k3_e6", "does not read d<depth>"),
    (V2_TEXT.replace("|d1:", "|x1:"), "stage 6"),
    (V2_TEXT.replace("d2:k3_e6,", "d2:k3_e6x,", 1), "unknown op 'k3_e6x'"),
    (V2_TEXT.rsplit("|", 1)[0], "6 depths"),                        # a stage missing
    (V2_TEXT.replace("d2:", "d5:", 1), "depth 5"),                  # deeper than the slots
    (V2_TEXT.replace("d2:k3_e6,", "d2:k4_e6,", 1), "kernel 4"),     # not a kernel choice
    (V2_TEXT.replace("d2:k3_e6,", "d2:k3_e5,", 1), "expansion 5"),
    (V2_TEXT.replace("d1:k3_e6", "d1:k3_e6,k3_e6"), "1 block slots"),
])
def test_malformed_strings_say_what_is_wrong(space, text, problem):
    with pytest.raises(GenotypeError, match=problem):
        space.from_str(text)


def test_json_is_depths_and_op_names_and_is_checked(space):
    assert space.to_json(V2)["depths"] == [2, 3, 4, 3, 3, 1] and space.to_json(V2)["blocks"][5] == ["k3_e6"]
    good = space.to_json(V2)
    for bad in (V2_TEXT, {"depths": good["depths"]}, {**good, "depths": [2, 3, 4, 3, 3, "1"]},
                {**good, "blocks": [["k3_e6"] * 4] * 6}, {**good, "extra": 1}):
        with pytest.raises(GenotypeError):
            space.from_json(bad)


def test_genes_are_a_depth_then_kernel_expansion_se_per_slot(space):
    cards = space.cardinalities()
    assert len(cards) == 6 + 3 * 21 and cards[:4] == [4, 3, 3, 2] and cards[-4:] == [1, 3, 3, 2]
    assert space.encode(V2)[:4] == [1, 0, 2, 0]  # depth 2 (least 1), k3, e6, no SE
    assert space.encode(space.smallest()) == [0] * len(cards)
    with pytest.raises(GenotypeError, match="Invalid MobileNet genes"):
        space.decode([0] * (len(cards) - 1))
    child = space.mutate(V2, random.Random(0))
    assert sum(a != b for a, b in zip(space.encode(V2), space.encode(child))) == 1


def test_config_rebuilds_the_space_and_bad_options_are_config_errors(space):
    assert MobileNetSpace(**space.config()).config() == space.config()
    assert space.config()["channels"] == 16 and space.config()["max_depths"] == [4, 4, 4, 4, 4, 1]
    for bad in ({"strides": [1, 2]}, {"min_depths": [0, 1, 1, 1, 1, 1]}, {"kernels": [3, 4]},
                {"expansions": []}, {"activation": "gelu"}, {"dropout": 1.0}, {"stem_stride": 3}):
        with pytest.raises(ConfigError):
            mobilenet(**bad)


# --- published architectures and networks -------------------------------------------------------------
def test_published_reference_points_are_architectures_of_the_shipped_space(space):
    assert set(PUBLISHED) == {"MOBILENET_V2", "PROXYLESS_GPU", "PROXYLESS_CPU", "PROXYLESS_MOBILE"}
    assert space.published is PUBLISHED
    for name, arch in PUBLISHED.items():
        assert space.validate(arch) == arch and isinstance(arch, MobileNetArch), name
        assert not any(block.se for stage in arch.used() for block in stage), name
    assert PUBLISHED["PROXYLESS_GPU"].depths == (1, 2, 2, 3, 4, 1)  # shallow: ProxylessNAS' GPU network
    assert sum(PUBLISHED["PROXYLESS_CPU"].depths) == 19  # deep and narrow-kerneled: its CPU network


def test_mobilenet_v2_parameter_count(space):
    model = space.build_network(V2, num_classes=10, in_channels=3, input_size=32)
    # 2,800,522: MobileNetV2 on CIFAR-10 is ~2.2M at its own widths (32/64/160 where this skeleton has
    # ProxylessNAS' 40/80/192)
    assert n_params(model) == 2_800_522
    assert len(model.blocks) == sum(V2.depths) == 16


@pytest.mark.parametrize("size", [8, 28, 32])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_networks_run_on_small_inputs(in_channels, size):
    space = mobilenet(channels=4)
    arch = space.sample(random.Random(size))
    model = space.build_network(arch, 10, in_channels, size)
    x = torch.randn(2, in_channels, size, size)
    assert model.train()(x).shape == model.eval()(x).shape == (2, 10)
    assert len(model.blocks) == sum(arch.depths)


def test_smallest_is_cheapest_by_parameters(space):
    smallest = space.smallest()
    assert smallest.depths == (1,) * 6 and set(b for s in smallest.blocks for b in s) == {Block(3, 3, False)}
    least = n_params(space.build_network(smallest, 10, 3, 8))
    rng = random.Random(0)
    others = [*PUBLISHED.values(), *(space.sample(rng) for _ in range(10))]
    assert all(least < n_params(space.build_network(arch, 10, 3, 8)) for arch in others)


# --- the supernet ------------------------------------------------------------------------------------
MIXINGS = {"darts": Softmax, "gdas": Gumbel, "single_path": SinglePath}


def supernet(mode: str, channels: int = 4, size: int = 8) -> tuple[MobileNetSpace, Supernet]:
    torch.manual_seed(0)
    space = mobilenet(channels=channels)
    return space, build_supernet(space, 10, 1, size, MIXINGS[mode]())


def slots(net: Supernet) -> list:
    return net.space.skeleton().all_slots()


def layers(net: Supernet) -> list:
    """Every slot's elastic block."""
    return [edge.shared for _, edge in net.made]


def mandatory(net: Supernet) -> list[bool]:
    return [bool(site.masked) for site, _ in net.made]


def test_supernet_groups_are_the_slots_with_every_op_and_skip():
    _, net = supernet("single_path")
    assert net.cell_types == tuple(f"b{i}" for i in range(21)) and net.num_edges == 1
    assert len(net.op_names) == 3 * 3 * 2 + 1 and net.op_names[-1] == SKIP and net.op_names[0] == "k3_e3"
    assert all(a.shape == (1, 19) for a in net.arch_parameters())
    firsts = [0, 4, 8, 12, 16, 20]  # the first slot of each stage cannot be skipped
    assert [i for i, m in enumerate(mandatory(net)) if m] == firsts
    assert all((net.alpha(f"b{i}")[0, -1] == MASKED) == (i in firsts) for i in range(21))
    assert net.arch_weights()["b0"][0, -1] == 0.0


def test_single_path_runs_exactly_the_blocks_of_the_arch():
    space, net = supernet("single_path")
    arch = space.from_str("d1:k5_e4,k3_e3,k3_e3,k3_e3|d4:k3_e6_se,k7_e3,k5_e6,k3_e4|d2:k7_e6,k3_e3,k3_e3,k3_e3|"
                          "d1:k3_e3,k3_e3,k3_e3,k3_e3|d3:k3_e3,k5_e3_se,k3_e3,k3_e3|d1:k3_e6")
    used = {slot.index for slot in slots(net) if slot.position < arch.depths[slot.stage]}
    net(torch.randn(4, 1, 8, 8), arch=arch).sum().backward()
    blocks = layers(net)
    for i, layer in enumerate(blocks):
        assert any(p.grad is not None for p in layer.parameters()) == (i in used), i
    assert all(a.grad is None for a in net.arch_parameters())
    k5 = blocks[0].depthwise.weight.grad  # a 5x5 block trains the centre of the shared 7x7 kernel
    assert k5[:, :, 1:6, 1:6].abs().sum() > 0 and k5[:, :, 0].abs().sum() == k5[:, :, :, 6].abs().sum() == 0
    e4 = blocks[0].expand.weight.grad  # expansion 4 of 6: the first 4C of the expanded channels
    assert e4[: 4 * 4].abs().sum() > 0 and e4[4 * 4:].abs().sum() == 0
    se = blocks[4].se_reduce.weight.grad
    assert se is not None and blocks[5].se_reduce.weight.grad is None  # SE only where the block has it


def test_a_single_path_is_the_discrete_network_that_inherits_the_shared_weights():
    """Inheritance slices the elastic blocks into the discrete network's MBConvs: the same function."""
    space, net = supernet("single_path")
    arch = space.sample(random.Random(5))
    blocks = [b for stage in arch.used() for b in stage]
    assert any(b.se for b in blocks) and any(b.kernel < 7 for b in blocks)
    net.train()(torch.randn(16, 1, 8, 8), arch=arch)  # BN statistics for this path, in the supernet's slices
    model, inherited = inherit_network(net, arch, 10, 1, 8)
    assert inherited == len(model.state_dict()) and len(model.blocks) == len(blocks)
    x = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(net.eval()(x, arch=arch), model.eval()(x))


def test_the_darts_mixture_shares_work_but_is_the_weighted_sum_of_the_blocks():
    _, net = supernet("darts")
    layer = layers(net)[1].eval()  # running statistics: the same normalisation for every call
    x = torch.randn(2, layer.c_in, 8, 8)
    ops = net.op_names  # every block op, then skip_connect (the input itself)
    weights = torch.softmax(torch.randn(len(ops)), 0).unbind(0)
    expected = sum(w * layer.run(x, op) for w, op in zip(weights, ops))
    torch.testing.assert_close(layer.mixture(x, ops, weights), expected)


def test_supernet_widths_come_from_the_spaces_channels():
    small, large = (supernet("gdas", channels=c)[1] for c in (4, 8))
    assert [s.c_out for s, _ in small.made][::4] == [6, 10, 20, 24, 48, 80]  # 1.5C, 2.5C, 5C, 6C, 12C, 20C
    assert [s.c_out for s, _ in large.made][::4] == [12, 20, 40, 48, 96, 160] and len(large.network.blocks) == 21


@pytest.mark.parametrize("mode", ["gdas", "darts"])
def test_gdas_and_darts_reach_every_alpha(mode):
    _, net = supernet(mode, channels=2 if mode == "darts" else 4)
    net.generator = torch.Generator().manual_seed(0)
    logits = net.train()(torch.randn(4, 1, 8, 8))
    assert logits.shape == (4, 10)
    logits.logsumexp(1).sum().backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in net.arch_parameters())
    assert all(a.grad[0, -1] == 0 for a, m in zip(net.arch_parameters(), mandatory(net)) if m)


def test_gdas_never_skips_a_slot_that_always_runs():
    _, net = supernet("gdas")
    net.tau = 10.0
    net.generator = torch.Generator().manual_seed(1)
    for _ in range(20):
        for group, always in zip(net.cell_types, mandatory(net)):
            step = net.mixing.plan(net.alpha(group), net.edge_weights(group), True)[0]
            assert not (always and net.op_names[step.index] == SKIP)


def test_derive_reads_depth_up_to_the_first_skip_and_matches_the_argmax_path():
    space, net = supernet("gdas")
    want = space.from_str("d3:k7_e6_se,k5_e3,k3_e4,k7_e6|d1:k3_e3,k3_e3,k3_e3,k3_e3|d4:k5_e4,k5_e4,k5_e4,k5_e4|"
                          "d1:k3_e6,k3_e6,k3_e6,k3_e6|d2:k7_e3_se,k7_e3_se,k7_e3_se,k7_e3_se|d1:k5_e6")
    with torch.no_grad():
        for group, op in net.cell_ops(want).items():
            alpha = net.alpha(group)
            alpha[0, :-1] = 0.0
            alpha[0, net.op_names.index(op[0])] = 5.0
            if op[0] == SKIP:  # the unused slot's block is its next strongest op
                slot = slots(net)[int(group[1:])]
                alpha[0, net.op_names.index(want.blocks[slot.stage][slot.position].op)] = 4.0
    assert net.derive() == want
    x = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(net.eval()(x), net(x, arch=want))
    assert space.validate(supernet("darts")[1].derive())  # random alphas derive a valid arch too


def test_partial_channels_are_refused_with_a_reason():
    with pytest.raises(ConfigError, match="share their weights: partial channels would split them"):
        build_supernet(mobilenet(), 10, 1, 8, PartialChannels(4))


def test_gene_priors_become_alpha_rows_of_the_same_distribution():
    space, net = supernet("gdas")
    uniform = [torch.full((c,), 1.0 / c).log() for c in space.cardinalities()]
    logits = net.gene_prior_logits(uniform)
    assert set(logits) == set(net.cell_types) and all(row.shape == (1, 19) for row in logits.values())
    probs = {g: torch.softmax(row, -1)[0] for g, row in logits.items()}
    # stage 1: depth uniform in 1..4, so slot t (0-based) is unused with probability t / 4
    for t in range(4):
        assert probs[f"b{t}"][-1].item() == pytest.approx(t / 4, abs=1e-6)
        torch.testing.assert_close(probs[f"b{t}"][:-1], torch.full((18,), (1 - t / 4) / 18))
    assert logits["b0"][0, -1] == MASKED


# --- cost units --------------------------------------------------------------------------------------
def test_cost_units_cover_every_choice_and_sum_to_the_network(space):
    units = space.cost_units(10, 1, 8)
    by_key = {}
    for unit in units:  # a key names one op at one shape, wherever it occurs
        assert unit.key.startswith("mobilenet/")
        assert by_key.setdefault(unit.key, unit.input_shape) == unit.input_shape
    choices = {u.choice for u in units if u.choice is not None}
    assert len(choices) == 21 * 18 + 15  # every op of every slot, skip where the depth may end
    _, net = supernet("single_path", channels=16)
    assert {(g, 0, op) for g in net.cell_types for op in net.op_names} - choices == {(f"b{i}", 0, SKIP)
                                                                                    for i in (0, 4, 8, 12, 16, 20)}
    (skeleton,) = [u for u in units if u.choice is None]  # stem and head: the work every network does
    for arch in (V2, space.smallest(), space.sample(random.Random(2))):
        chosen = space.chosen(arch)
        assert chosen <= choices and len(chosen) == 21
        assert {(g, 0, ops[0]) for g, ops in net.cell_ops(arch).items()} == chosen
        pieces = [skeleton, *(u for u in units if u.choice in chosen)]
        model = space.build_network(arch, 10, 1, 8)
        assert sum(n_params(u.build()) for u in pieces) == n_params(model)
        seen = _input_shapes(model, torch.randn(1, 1, 8, 8))
        assert [u.input_shape for u in pieces if u.key.split("/")[1] != SKIP] == seen


def _input_shapes(model: torch.nn.Module, x: torch.Tensor) -> list[tuple[int, int, int]]:
    """The input shape of the network and of every block, in the order they run."""
    shapes = [tuple(x.shape[1:])]
    hooks = [m.register_forward_pre_hook(lambda _, args: shapes.append(tuple(args[0].shape[1:]))) for m in model.blocks]
    model.eval()(x)
    for hook in hooks:
        hook.remove()
    return shapes


# --- searched end to end, one strategy of each kind (debug=smoke: C=4, digits) ---------------------
@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["evolution", "spos", "gdas"])
def test_a_debug_search_of_each_strategy_kind(strategy: str, tmp_path) -> None:
    from nasrun import read_json, run

    result = run("search", "search_space=mobilenet", f"strategy={strategy}", "debug=smoke", "plots=false",
                 run_dir=tmp_path / strategy)
    assert result.code == 0, result.text
    genotype = read_json(tmp_path / strategy / "genotype.json")
    space = build_option("search_space", "mobilenet", {"channels": 4})
    assert genotype["search_space"] == "mobilenet" and space.validate(space.from_str(genotype["arch_str"]))


@pytest.mark.slow
def test_gdas_with_a_latency_table_derives_a_faster_network(tmp_path) -> None:
    from nasrun import read_trials, run

    from nascli.hardware.cost import Timing
    from nascli.hardware.latency_table import build_table

    space = build_option("search_space", "mobilenet", {"channels": 4})

    def device(module, input_shape) -> Timing:  # a stand-in device: latency grows with the weights
        return Timing(1e-3 * sum(p.numel() for p in module.parameters()), 0.0, 1)

    table = tmp_path / "latency_table.csv"
    build_table(space, (10, 1, 8), device, {"device": "stand-in"}, calibration=0, seed=0).save(table)
    latency = {}
    for weight in (0.0, 2.0):
        result = run("search", "search_space=mobilenet", "strategy=gdas", "debug=smoke", "plots=false",
                     "hardware=lut", f"hardware.table={table}", f"hardware.latency_loss_weight={weight}",
                     "strategy.arch_optimizer.lr=0.05", "trainer.epochs=3", "trainer.batch_size=32",
                     run_dir=tmp_path / f"w{weight}")
        assert result.code == 0, result.text
        latency[weight] = float(read_trials(tmp_path / f"w{weight}")[-1]["latency_ms"])
    assert latency[2.0] < 0.9 * latency[0.0]
