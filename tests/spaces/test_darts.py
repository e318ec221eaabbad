"""The DARTS space: the paper's Genotype text, constrained genes, and NetworkCIFAR."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
import torch
from configured import space as configured_space

from nascli.errors import ConfigError, GenotypeError
from nascli.spaces.darts import DartsSpace
from nascli.spaces.darts.genotype import PUBLISHED, Genotype

# DARTS_V2 exactly as the paper's repository prints it
DARTS_V2_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
    "reduce_concat=[2, 3, 4, 5])"
)


def darts(**options) -> DartsSpace:
    """The shipped darts space (conf/search_space/darts.yaml) with some options changed."""
    return configured_space("darts", **options)


@pytest.fixture
def space() -> DartsSpace:
    return darts(channels=4, layers=5)


def n_params_m(model: torch.nn.Module) -> float:
    """Parameters in millions, without the auxiliary head (as the DARTS paper reports them)."""
    return sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name) / 1e6


def test_published_genotypes_round_trip(space):
    assert space.to_str(PUBLISHED["DARTS_V2"]) == DARTS_V2_TEXT
    for genotype in PUBLISHED.values():
        parsed = space.from_str(space.to_str(genotype))
        assert parsed == genotype and len({parsed, genotype}) == 1  # hashable, equal


def test_accepts_range_concat_as_the_original_repo_prints_it(space):
    text = DARTS_V2_TEXT.replace("concat=[2, 3, 4, 5]", "concat=range(2, 6)")
    assert space.from_str(text) == PUBLISHED["DARTS_V2"]


def test_string_round_trip_for_sampled_archs(space):
    rng = random.Random(0)
    for _ in range(200):
        arch = space.sample(rng)
        assert space.from_str(space.to_str(arch)) == arch


def _replace(old: str, new: str) -> str:
    assert old in DARTS_V2_TEXT
    return DARTS_V2_TEXT.replace(old, new, 1)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Genotype(",
        "__import__('os').system('echo hacked')",
        "Genotype(normal=[], normal_concat=[2, 3, 4, 5], reduce=[], reduce_concat=[2, 3, 4, 5])",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
        _replace("('dil_conv_3x3', 2)", "('conv_7x1_1x7', 2)"),  # unknown op
        _replace("('dil_conv_3x3', 2)", "('none', 2)"),  # `none` is never part of a genotype
        _replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"),  # node 3 sees states 0..4 only
        _replace("('sep_conv_3x3', 0), ('sep_conv_3x3', 1)", "('sep_conv_3x3', 0), ('sep_conv_3x3', 0)"),
        _replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', '2')"),
        _replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 2, 3)"),
        _replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[3, 4, 5]"),
        _replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 10 ** 18)"),
        _replace("normal_concat=[2, 3, 4, 5], ", ""),  # missing field
        _replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3, 4, 5], normal_concat=[2, 3, 4, 5]"),
        _replace("normal_concat=[2, 3, 4, 5]", "normal_concat=list(range(2, 6))"),
        _replace("Genotype(normal=", "Genotype(").replace("normal_concat=", "", 1),  # positional
        _replace("Genotype(", "Foo("),
    ],
)
def test_malformed_strings_raise_genotype_error(space, text):
    with pytest.raises(GenotypeError, match="DARTS genotype"):
        space.from_str(text)


def test_genes_and_constraints(space):
    assert space.cardinalities()[:8] == [7, 2, 7, 2, 7, 3, 7, 3]
    assert len(space.cardinalities()) == 2 * 4 * 4
    genes = space.encode(PUBLISHED["DARTS_V1"])
    assert space.decode(genes) == PUBLISHED["DARTS_V1"]
    genes[1], genes[3] = 0, 0  # node 0 of the normal cell takes state 0 twice
    assert not space.is_valid(genes)
    with pytest.raises(GenotypeError):
        space.decode(genes)


def test_sampling_is_reproducible_and_uniform_over_input_pairs(space):
    assert space.sample(random.Random(3)) == space.sample(random.Random(3))
    rng = random.Random(0)
    last_node_inputs = Counter(tuple(space.encode(space.sample(rng))[13:16:2]) for _ in range(2000))
    assert len(last_node_inputs) == 5 * 4  # every ordered pair of distinct inputs among states 0..4
    assert max(last_node_inputs.values()) < 2 * min(last_node_inputs.values())


def test_mutate_changes_exactly_one_op_or_input_and_stays_valid(space):
    rng = random.Random(1)
    for _ in range(200):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        before, after = space.encode(arch), space.encode(child)
        assert sum(a != b for a, b in zip(before, after)) == 1
        assert space.is_valid(after)


def test_json_round_trip_and_validation(space):
    arch = PUBLISHED["DARTS_V1"]
    assert space.from_json(json.loads(json.dumps(space.to_json(arch)))) == arch
    bad_inputs = {**space.to_json(arch), "reduce": [["max_pool_3x3", 0]] * 8}
    for bad in (DARTS_V2_TEXT, {"normal": []}, bad_inputs, ["sep_conv_3x3"] * 6):
        with pytest.raises(GenotypeError):
            space.from_json(bad)


def test_config_rebuilds_the_space():
    space = darts(channels=8, layers=6, auxiliary=True, drop_path=0.2)
    assert DartsSpace(**space.config()).config() == space.config()
    assert space.config()["steps"] == 4 and space.config()["stem_multiplier"] == 3


def test_shipped_defaults_are_the_papers_search_network():
    space = darts()
    assert space.name == "darts" and space.published is PUBLISHED
    assert space.config() == {"channels": 16, "layers": 8, "auxiliary": False, "drop_path": 0.0,
                              "steps": 4, "multiplier": 4, "stem_multiplier": 3, "stem": "cifar"}


def test_validate_returns_the_spaces_own_value_or_raises(space):
    as_lists = Genotype(*(list(field) for field in PUBLISHED["DARTS_V2"]))
    assert space.validate(as_lists) == PUBLISHED["DARTS_V2"]
    assert isinstance(space.validate(as_lists).normal, tuple)
    with pytest.raises(GenotypeError):
        space.validate(PUBLISHED["DARTS_V2"]._replace(normal=PUBLISHED["DARTS_V2"].normal[:6]))
    with pytest.raises(GenotypeError):
        darts(steps=2, multiplier=2).validate(PUBLISHED["DARTS_V2"])


def test_smaller_cells_have_their_own_concat():
    space = darts(channels=4, layers=3, steps=2, multiplier=2)
    arch = space.sample(random.Random(0))
    assert arch.normal_concat == (2, 3) and len(arch.normal) == 4
    model = space.build_network(arch, num_classes=3, in_channels=1, input_size=8)
    assert model.eval()(torch.randn(2, 1, 8, 8)).shape == (2, 3)
    with pytest.raises(GenotypeError):
        space.from_str(DARTS_V2_TEXT)


@pytest.mark.parametrize("in_channels,size", [(1, 8), (3, 32)])
def test_forward_shapes_and_auxiliary_head_in_training(in_channels, size):
    space = darts(channels=4, layers=5, auxiliary=True, drop_path=0.2)
    model = space.build_network(PUBLISHED["DARTS_V2"], 10, in_channels=in_channels, input_size=size)
    x = torch.randn(2, in_channels, size, size)
    logits, aux_logits = model.train()(x)
    assert logits.shape == aux_logits.shape == (2, 10)
    (logits.sum() + aux_logits.sum()).backward()
    assert model.eval()(x).shape == (2, 10)


def test_no_auxiliary_head_means_plain_logits_in_training(space):
    model = space.build_network(PUBLISHED["DARTS_V1"], num_classes=10, in_channels=1, input_size=8)
    assert model.train()(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_drop_path_only_in_training():
    space = darts(channels=4, layers=3, drop_path=0.5)
    model = space.build_network(PUBLISHED["DARTS_V2"], num_classes=10, in_channels=1, input_size=8)
    assert model.drop_path_prob == 0.5
    x = torch.randn(4, 1, 8, 8)
    assert not torch.equal(model.train()(x), model(x))  # random paths dropped
    assert torch.equal(model.eval()(x), model(x))
    model.drop_path_prob = 0.0  # a trainer may change it per epoch
    assert torch.equal(model.train()(x), model(x))


def test_darts_v2_has_the_papers_parameter_count():
    space = darts(channels=36, layers=20, auxiliary=True)
    model = space.build_network(PUBLISHED["DARTS_V2"], num_classes=10, in_channels=3, input_size=32)
    assert n_params_m(model) == pytest.approx(3.349342, abs=1e-6)  # "3.3M" in the paper
    assert isinstance(PUBLISHED["DARTS_V2"], Genotype)


def test_a_network_saved_before_the_outline_loads_and_computes_what_it_did() -> None:
    """data/darts_v1_before_outlines.pt: `nas retrain genotype=DARTS_V1` (2 channels, 3 cells) saved by
    nascli c8a8b35, whose cells held their ops as `ops.<pair>` in DARTS_V1's pair order (node 0 takes
    input 1 first); its logits for torch.manual_seed(0)'s randn(2, 1, 8, 8) were saved beside it."""
    from pathlib import Path

    from nascli.checkpoint import build_model, load_checkpoint

    data = Path(__file__).parent / "data"
    ckpt, path = load_checkpoint(str(data / "darts_v1_before_outlines.pt"))
    assert any(".ops." in key for key in ckpt["state_dict"])
    _, _, model = build_model(ckpt, str(path))
    torch.manual_seed(0)
    x = torch.randn(2, 1, 8, 8)
    expected = torch.tensor(json.loads((data / "darts_v1_before_outlines.logits.json").read_text()))
    torch.testing.assert_close(model(x), expected)


def test_the_imagenet_stem_starts_the_cells_at_an_eighth_of_the_input():
    space = darts(channels=8, layers=5, auxiliary=True, stem="imagenet")
    assert space.config()["stem"] == "imagenet" and DartsSpace(**space.config()).config() == space.config()
    model = space.build_network(PUBLISHED["DARTS_V2"], num_classes=5, in_channels=3, input_size=64).train()
    assert model.stem(torch.zeros(2, 3, 64, 64)).shape == (2, 8, 16, 16)
    logits, aux = model(torch.zeros(2, 3, 64, 64))
    assert logits.shape == aux.shape == (2, 5)
    assert "stem" not in darts().cost_config() and darts(stem="imagenet").cost_config()["stem"] == "imagenet"
    with pytest.raises(ConfigError, match="darts stem must be one of cifar, imagenet"):
        darts(stem="tiny")
