"""Every registered search space keeps the space contract (nascli.spaces.base): genes, strings, JSON,
sampling, mutation, networks, a single-path supernet and its published genotypes."""

from __future__ import annotations

import json
import random

import pytest
import torch

from nascli.errors import ConfigError, GenotypeError
from nascli.genotype import genotype_record, parse_record
from nascli.registry import SPACES
from nascli.runtime.config import build_option


@pytest.fixture(params=SPACES.names())
def space(request: pytest.FixtureRequest):
    return build_option("search_space", request.param)


def test_genes_strings_and_json_round_trip(space) -> None:
    rng = random.Random(0)
    cards = space.cardinalities()
    for _ in range(50):
        arch = space.sample(rng)
        genes = space.encode(arch)
        assert len(genes) == len(cards) and all(0 <= g < c for g, c in zip(genes, cards)) and space.is_valid(genes)
        assert space.decode(genes) == arch == space.validate(arch)
        assert space.from_str(space.to_str(arch)) == arch
        assert space.from_json(json.loads(json.dumps(space.to_json(arch)))) == arch
        record = json.loads(json.dumps(genotype_record(space, arch, {})))
        assert parse_record(record, "test")[1] == arch


def test_sampling_repeats_with_the_seed_and_mutation_changes_one_gene(space) -> None:
    first = [space.sample(random.Random(3)) for _ in range(5)]
    assert first == [space.sample(random.Random(3)) for _ in range(5)]
    rng = random.Random(1)
    for _ in range(30):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        assert space.is_valid(space.encode(child))
        nearest = one_gene_away(space, arch)
        # a further step only where no one-gene change is another architecture (nb101's bare input -> output cell)
        assert child in nearest or all(a == arch for a in nearest)


def one_gene_away(space, arch) -> list:
    """The architectures whose genes are those of `arch` with one gene changed (a space where several
    gene vectors are one architecture may encode them otherwise: nb101 encodes the canonical cell)."""
    genes, cards = space.encode(arch), space.cardinalities()
    changed = ([*genes[:i], v, *genes[i + 1:]] for i, c in enumerate(cards) for v in range(c) if v != genes[i])
    return [space.decode(g) for g in changed if space.is_valid(g)]


def test_networks_and_the_single_path_supernet_run(space) -> None:
    space = space.for_input(10, 1, 8)  # a space whose architectures depend on the input knows it (chain's strides)
    arch = space.sample(random.Random(0))
    net = space.build_network(arch, 10, 1, 8).eval()
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    try:
        supernet = space.build_supernet(3, 1, 8, mode="single_path", channels=4, layers=5)
    except ConfigError as exc:  # a space may offer no supernet: then it says so
        assert "no weight-sharing supernet" in str(exc)
        return
    assert supernet(torch.randn(2, 1, 8, 8), arch=arch).shape == (2, 3)


def test_published_genotypes_belong_to_the_space(space) -> None:
    for name, arch in space.published.items():
        assert space.validate(arch) == arch, name


@pytest.mark.parametrize("key", ["channels", "cells_per_stage", "layers"])
def test_a_network_too_large_to_build_is_refused_before_building(space, key: str) -> None:
    """A genotype.json or override asking for 10**9 channels (or cells) is a clear error at once,
    not minutes of building or the OOM killer."""
    import time

    if key not in space.config():
        pytest.skip(f"{space.name} has no {key}")
    record = genotype_record(space, space.sample(random.Random(0)), {})
    record["space_config"][key] = 10**9
    start = time.perf_counter()
    with pytest.raises(GenotypeError, match=f"{key} must be at most") as caught:
        parse_record(json.loads(json.dumps(record)), "genotype.json")
    assert time.perf_counter() - start < 1.0 and "fit in memory" in str(caught.value)
    with pytest.raises(ConfigError, match=f"{key} must be at most"):
        type(space)(**{**space.config(), key: 10**9})
