"""The chain space (layer-by-layer plain CNNs): its string and JSON forms, the normal form of unused
genes, strides checked against the input size (sampling, mutation, by hand, at build time), a
hand-counted network, and every sample-based strategy searching it."""

from __future__ import annotations

import json
import random

import pytest
import torch
from configured import space as configured_space

from nascli.errors import ConfigError, GenotypeError
from nascli.genotype_file import genotype_record, parse_record
from nascli.registry import STRATEGIES
from nascli.runtime.config import build_option
from nascli.spaces.chain import ChainSpace
from nascli.spaces.chain.genotype import ChainArch, Layer
from nascli.spaces.chain.space import reductions
from nascli.strategies.base import SearchContext


def chain(**options) -> ChainSpace:
    """The shipped chain space (conf/search_space/chain.yaml) with some options changed."""
    return configured_space("chain", **options)


@pytest.fixture(scope="module")
def space() -> ChainSpace:
    return chain()


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def strided(arch: ChainArch) -> int:
    return sum(1 for lay in arch.layers if lay.op != "id" and lay.stride == 2)


# --- text, JSON and genes ----------------------------------------------------------------------------
TEXT = "conv3x24s1-maxs2-conv5x64s2-avgs1 | fc128-fc64"


def test_the_string_lists_the_network_layers_then_the_dense_layers(space) -> None:
    arch = space.from_str(TEXT)
    assert arch.layers == (Layer("conv", 3, 24, 1), Layer("max", None, None, 2), Layer("conv", 5, 64, 2),
                           Layer("avg", None, None, 1))
    assert arch.dense == (128, 64) and space.to_str(arch) == TEXT
    assert space.to_json(arch)["layers"][1] == {"op": "max", "stride": 2}
    assert space.from_json(json.loads(json.dumps(space.to_json(arch)))) == arch
    assert space.to_str(space.smallest()) == "none | none" == space.to_str(space.from_str("id-id | none"))


def test_genes_go_layer_by_layer_then_dense_slots(space) -> None:
    """The controller's token order (Zoph & Le): op, kernel, width, stride per layer slot, the used
    layers first; then the fully connected slots (0: none, else 1 + the width's index)."""
    assert space.cardinalities() == [4, 4, 4, 2] * 12 + [4, 4]
    genes = space.encode(space.from_str(TEXT))
    assert genes[:8] == [0, 1, 0, 0, 1, 0, 0, 1] and genes[16:20] == [3, 0, 0, 0] and genes[-2:] == [2, 1]


@pytest.mark.parametrize("text, problem", [
    ("conv3x24s1", "exactly one '|'"),
    ("conv3x24s1-pool | none", "'pool' is not a layer"),
    ("conv3x24s1 | fc", "'fc' is not a fully connected layer"),
    ("conv3x24s1 | fc100", "100 is not one of [64, 128, 256]"),
    ("conv4x24s1 | none", "kernel 4 is not one of [1, 3, 5, 7]"),
    ("maxs3 | none", "stride 3 is not one of [1, 2]"),
    ("-".join(["id"] * 13) + " | none", "13 layer slots; this space has at most 12"),
    ("id | fc64-fc64-fc64", "3 fully connected layers; this space has at most 2"),
])
def test_malformed_strings_say_what_is_wrong(space, text: str, problem: str) -> None:
    with pytest.raises(GenotypeError) as caught:
        space.from_str(text)
    assert problem in str(caught.value)


def test_malformed_json_names_the_layer_and_the_valid_form(space) -> None:
    with pytest.raises(GenotypeError, match=r"layer 2 .* is not a layer: \{\"op\": \"conv\""):
        space.from_json({"layers": [{"op": "id"}, {"op": "max"}], "dense": []})
    with pytest.raises(GenotypeError, match="exactly the keys layers and dense"):
        space.from_json([["conv", 3, 24, 1]])


def test_equal_networks_are_one_arch_and_one_gene_vector(space) -> None:
    """Identities are dropped wherever they stand; genes a layer does not use are 0."""
    assert space.from_str("conv3x24s1-id-maxs2 | none") == space.from_str("id-conv3x24s1-maxs2-id | none")
    base = space.encode(space.from_str("maxs2-conv3x24s1 | none"))
    same = list(base)
    same[0:8] = [0, 1, 0, 0, 1, 3, 2, 1]   # the conv first, the pool's kernel and width genes set (unused) ...
    same[8:12] = [3, 1, 3, 1]              # ... an identity's genes set ...
    same[-1] = 3                           # ... and a dense slot after the first none (no layer)
    assert space.decode(same) == space.from_str("conv3x24s1-maxs2 | none")
    swapped = list(same)
    swapped[0:8] = [*same[4:8], *same[0:4]]
    assert space.decode(swapped) == space.decode(base) and space.encode(space.decode(swapped)) == base
    assert space.validate(((("max", 3, 24, 2), ("id", 5, 64, 2)), ())).layers == (Layer("max", None, None, 2),)


def test_mutation_always_makes_another_network_one_normal_gene_away() -> None:
    space, rng = chain(input_size=8), random.Random(0)
    for _ in range(200):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        assert child != arch and strided(child) <= 3
        assert sum(a != b for a, b in zip(space.encode(arch), space.encode(child))) == 1


def test_mutation_moves_are_every_one_gene_change_to_another_valid_network() -> None:
    space, rng = chain(input_size=8), random.Random(1)
    cards = space.cardinalities()
    for arch in [space.smallest(), space.from_str("conv1x24s1 | fc64"), *(space.sample(rng) for _ in range(10))]:
        genes = space.encode(arch)
        every = {(i, v) for i in range(len(genes)) for v in range(cards[i]) if v != genes[i]
                 and space.is_valid(new := [*genes[:i], v, *genes[i + 1:]]) and space.encode(space.decode(new)) == new}
        assert every == {(i, v) for i in range(len(genes)) for v in space._moves(genes, i)}
    grown = {space.to_str(space.mutate(space.smallest(), rng)) for _ in range(40)}
    assert grown == {"conv1x24s1 | none", "maxs1 | none", "avgs1 | none", "none | fc64", "none | fc128", "none | fc256"}
    genes = space.encode(space.from_str("conv1x24s1 | fc64"))
    neighbours = {space.to_str(space.decode([*genes[:i], v, *genes[i + 1:]]))
                  for i in range(len(genes)) for v in space._moves(genes, i)}
    assert {"none | fc64", "conv1x24s1 | none", "conv1x24s1-maxs1 | fc64", "conv1x24s1 | fc64-fc256"} <= neighbours


# --- strides and the input size ------------------------------------------------------------------------
@pytest.mark.parametrize("size, most", [(32, 5), (28, 5), (8, 3), (2, 1), (1, 0)])
def test_samples_never_stride_a_1x1_map(size: int, most: int) -> None:
    space, rng = chain().for_input(10, 3, size), random.Random(size)
    assert reductions(size) == most and space.input_size == size
    archs = [space.sample(rng) for _ in range(100)]
    assert max(map(strided, archs)) == most  # as many as fit, never more
    for arch in archs[:5]:
        net = space.build_network(arch, 10, 3, size).eval()
        assert net(torch.randn(1, 3, size, size)).shape == (1, 10)


def test_sampling_is_uniform_over_valid_gene_vectors_without_rejection() -> None:
    """At 8 px, 3 in 10 gene vectors of 12 layers fit; drawn slot by slot, the number of stride-2
    layers follows the binomial (3/8 a slot) conditioned on at most 3."""
    from math import comb

    space, rng = chain(input_size=8), random.Random(0)
    exact = [comb(12, k) * 3**k * 5 ** (12 - k) for k in range(4)]
    counts = [0] * 4
    for _ in range(2000):
        counts[strided(space.sample(rng))] += 1
    assert all(abs(c / 2000 - e / sum(exact)) < 0.03 for c, e in zip(counts, exact))


FOUR_STRIDES = "conv3x24s2-maxs2-avgs2-conv1x24s2 | none"


def test_too_many_strides_for_the_input_are_refused_by_hand_and_at_build_time() -> None:
    with pytest.raises(GenotypeError, match=r"layer 4 \(conv1x24s2\) would stride a 1x1 feature map: at 8 px "
                                            r"inputs at most 3 layers may have stride 2.*at least 9 px"):
        chain(input_size=8).from_str(FOUR_STRIDES)
    found_on_cifar = chain(input_size=32)
    arch = found_on_cifar.from_str(FOUR_STRIDES)
    assert found_on_cifar.build_network(arch, 10, 3, 9).eval()(torch.randn(1, 3, 9, 9)).shape == (1, 10)
    with pytest.raises(GenotypeError, match="found for 32 px inputs"):
        found_on_cifar.build_network(arch, 10, 1, 8)  # nas retrain of a CIFAR genotype on 8 px digits
    assert not chain(input_size=8).is_valid(found_on_cifar.encode(arch))


def test_genotype_json_records_the_input_size() -> None:
    space = chain(input_size=8)
    record = json.loads(json.dumps(genotype_record(space, space.sample(random.Random(0)), {})))
    assert record["space_config"]["input_size"] == 8
    assert parse_record(record, "genotype.json")[0].input_size == 8


# --- networks ------------------------------------------------------------------------------------------
def test_a_small_network_has_the_hand_counted_parameters() -> None:
    space = chain(max_layers=3, widths=[4, 8], max_dense=1, dense_widths=[8], input_size=8)
    net = space.build_network(space.from_str("conv3x4s1-maxs2 | fc8"), 10, 1, 8)
    # conv 1*4*3*3 = 36, its BN 2*4 = 8, fc 4*8 + 8 = 40, classifier 8*10 + 10 = 90
    assert n_params(net) == 36 + 8 + 40 + 90 == 174
    x = torch.randn(2, 1, 8, 8)
    assert net.features(x).shape == (2, 4, 4, 4) and net.eval()(x).shape == (2, 10)


def test_the_smallest_arch_is_the_classifier_on_the_pooled_input(space) -> None:
    net = space.build_network(space.smallest(), 10, 3, 32)
    assert space.smallest() == ((), ()) and n_params(net) == 3 * 10 + 10


@pytest.mark.parametrize("bad", [{"kernels": [2]}, {"strides": [3]}, {"pools": ["min"]}, {"widths": [10**9]},
                                 {"max_layers": 0}, {"pool_window": 2}, {"dropout": 1.0}, {"input_size": 0}])
def test_bad_options_are_config_errors(bad: dict) -> None:
    with pytest.raises(ConfigError):
        chain(**bad)


def test_one_shot_and_latency_tables_are_refused_clearly(space) -> None:
    from nascli.weight_sharing.mixing import Softmax
    from nascli.weight_sharing.supernet import build_supernet

    with pytest.raises(ConfigError, match="chain space has no outline of sites: no weight-sharing supernet"):
        build_supernet(space, 10, 3, 32, Softmax())
    with pytest.raises(ConfigError, match="chain space has no outline of sites: .*no per-op cost model"):
        space.cost_units(10, 3, 32)


# --- every sample-based strategy ---------------------------------------------------------------------------
SAMPLE = [name for name, cls in STRATEGIES.items() if not cls.measures_candidates]


@pytest.mark.parametrize("name", SAMPLE)
def test_every_sample_strategy_searches_chain_within_the_strides(name: str) -> None:
    """A task where wide convolutions help: each strategy proposes valid 8 px architectures."""
    space = chain(max_layers=6, input_size=8)
    strategy = build_option("strategy", name, space=space, seed=0)
    strategy.setup(SearchContext("cpu", lambda: None, max_fidelity=4))
    asked = []
    for _ in range(16):
        proposal = strategy.propose()
        arch = proposal.arch
        assert space.validate(arch) == arch and strided(arch) <= 3
        strategy.tell(arch, sum(lay.width or 0 for lay in arch.layers) / 10.0)
        asked.append(arch)
    assert len(set(asked)) > 8
