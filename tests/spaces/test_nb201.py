"""The NAS-Bench-201 space: its string form, genes, and networks whose size matches the benchmark."""

from __future__ import annotations

import csv
import json
import random

import pytest
import torch
from configured import space as configured_space

from nascli.benchmarks import table_path
from nascli.errors import GenotypeError
from nascli.spaces.nb201 import NB201Space
from nascli.spaces.nb201.genotype import EDGES, OP_NAMES

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
ALL_CONV3 = ("nor_conv_3x3",) * 6
BENCHMARK = table_path("nb201")  # ships inside the package
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}


def nb201(**options) -> NB201Space:
    """The shipped nb201 space (conf/search_space/nb201.yaml) with some options changed."""
    return configured_space("nb201", **options)


@pytest.fixture
def space() -> NB201Space:
    return nb201()  # the benchmark's size: C=16, N=5


def n_params_m(model: torch.nn.Module) -> float:
    """Parameters in millions, counted as NAS-Bench-201 counts them."""
    return sum(p.numel() for p in model.parameters()) / 1e6


def test_parses_the_benchmark_string_in_edge_order(space):
    arch = space.from_str(EXAMPLE)
    assert arch == (
        "nor_conv_3x3", "nor_conv_3x3", "nor_conv_1x1", "skip_connect", "nor_conv_1x1", "nor_conv_3x3"
    )
    assert space.to_str(arch) == EXAMPLE


def test_string_round_trip_for_sampled_archs(space):
    rng = random.Random(0)
    for _ in range(200):
        arch = space.sample(rng)
        assert space.from_str(space.to_str(arch)) == arch


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nor_conv_3x3",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|",  # two nodes only
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|",  # node 3 short
        "|conv_5x5~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
        "|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
        "|nor_conv_3x3~0|+|nor_conv_1x1~1|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
        "nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
        "|nor_conv_3x3|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|+|",
        "Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2], reduce=[], reduce_concat=[2])",
    ],
)
def test_malformed_strings_are_rejected_with_the_valid_form(space, text):
    with pytest.raises(GenotypeError, match=r"\|op~0\|\+\|op~0\|op~1\|"):
        space.from_str(text)


def test_sampling_is_reproducible_with_the_same_seed(space):
    first = [space.sample(random.Random(7)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    assert len({space.sample(random.Random(seed)) for seed in range(20)}) > 1


def test_mutate_changes_exactly_one_gene(space):
    rng = random.Random(1)
    for _ in range(100):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        diff = [a != b for a, b in zip(space.encode(arch), space.encode(child))]
        assert sum(diff) == 1
        assert space.is_valid(space.encode(child))


def test_genes_round_trip(space):
    assert space.cardinalities() == [5] * 6
    arch = space.from_str(EXAMPLE)
    assert space.encode(arch) == [3, 3, 2, 1, 2, 3]
    assert space.decode(space.encode(arch)) == arch
    with pytest.raises(GenotypeError):
        space.decode([0, 0, 0, 0, 0, 5])


def test_json_round_trip_and_validation(space):
    arch = space.from_str(EXAMPLE)
    assert space.from_json(json.loads(json.dumps(space.to_json(arch)))) == arch
    for bad in ({"arch": EXAMPLE}, ["nor_conv_3x3"] * 5, ["sep_conv_3x3"] * 6, EXAMPLE):
        with pytest.raises(GenotypeError):
            space.from_json(bad)


def test_config_rebuilds_the_space():
    space = nb201(channels=8, cells_per_stage=2)
    assert NB201Space(**space.config()).config() == {"channels": 8, "cells_per_stage": 2}


def test_shipped_defaults_are_the_benchmarks_network(space):
    assert space.name == "nb201"
    assert space.config() == {"channels": 16, "cells_per_stage": 5}
    assert space.cardinalities() == [len(OP_NAMES)] * len(EDGES)


def test_validate_returns_the_spaces_own_value_or_raises(space):
    assert space.validate(list(ALL_CONV3)) == ALL_CONV3
    for bad in (ALL_CONV3[:5], ("conv_5x5",) + ALL_CONV3[1:], EXAMPLE):
        with pytest.raises(GenotypeError):
            space.validate(bad)


@pytest.mark.parametrize("in_channels,size", [(1, 8), (3, 32), (3, 5)])
def test_forward_shapes(in_channels, size):
    space = nb201(channels=4, cells_per_stage=1)
    for arch in (space.from_str(EXAMPLE), ("none",) * 6, ("avg_pool_3x3",) * 6):
        model = space.build_network(arch, num_classes=10, in_channels=in_channels, input_size=size)
        assert model(torch.randn(2, in_channels, size, size)).shape == (2, 10)


def test_all_conv3x3_cell_has_the_benchmark_parameter_count(space):
    model = space.build_network(ALL_CONV3, num_classes=10, in_channels=3, input_size=32)
    assert n_params_m(model) == pytest.approx(1.531546, abs=1e-6)


def benchmark_rows(dataset: str, count: int = 20) -> list[dict[str, str]]:
    """`count` rows of one dataset, spread over the benchmark file."""
    with BENCHMARK.open(newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["dataset"] == dataset]
    return rows[:: max(1, len(rows) // count)][:count]


@pytest.mark.parametrize("dataset", sorted(NUM_CLASSES))
def test_parameter_counts_match_the_benchmark_table(space, dataset):
    rows = benchmark_rows(dataset)
    assert len(rows) == 20
    for row in rows:
        model = space.build_network(space.from_str(row["arch"]), NUM_CLASSES[dataset], 3, 32)
        assert n_params_m(model) == pytest.approx(float(row["params_m"]), abs=1e-4), row["arch"]
