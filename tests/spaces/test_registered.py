"""Every registered search space keeps the space contract (nascli.spaces.base): genes, strings, JSON,
sampling, mutation, networks and its published genotypes; and a space with an outline of sites gives
a supernet of the network's structure and cost units that add up to its networks."""

from __future__ import annotations

import json
import random

import pytest
import torch

from nascli.errors import ConfigError, GenotypeError
from nascli.genotype_file import genotype_record, parse_record
from nascli.registry import SPACES
from nascli.runtime.config import build_option
from nascli.weight_sharing.inherit import inherit_network
from nascli.weight_sharing.mixing import SinglePath
from nascli.weight_sharing.supernet import build_supernet

SMALL = {"channels": 4, "cells_per_stage": 1, "layers": 5, "cells_per_stack": 1}  # the sizes a space has, small


@pytest.fixture(params=SPACES.names())
def space(request: pytest.FixtureRequest):
    return build_option("search_space", request.param)


def small(space):
    """The same space at a small size (for networks and supernets)."""
    return type(space)(**{**space.config(), **{k: v for k, v in SMALL.items() if k in space.config()}})


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
    space = small(space).for_input(10, 1, 8)  # a space whose architectures depend on the input knows it (chain)
    arch = space.sample(random.Random(0))
    net = space.build_network(arch, 10, 1, 8).eval()
    x = space.example_input(2, 1, 8)  # images, or token ids for a space of text networks
    assert net(x).shape == (2, 10)
    try:
        supernet = build_supernet(space, 3, 1, 8, SinglePath())
    except ConfigError as exc:  # a space may have no outline of sites: then it says so
        assert "has no outline of sites" in str(exc) and "sample-based strategy" in str(exc)
        return
    assert supernet(x, arch=arch).shape == (2, 3)


def test_the_supernet_is_the_networks_outline_and_hands_it_the_paths_weights(space) -> None:
    """One description: every tensor of the network stands at the same place in the supernet (the
    search network's affine-free BatchNorms aside), and a path inherited is the same function."""
    space = small(space)
    torch.manual_seed(0)
    try:
        supernet = build_supernet(space, 10, 1, 8, SinglePath()).eval()
    except ConfigError:
        pytest.skip(f"{space.name} has no outline of sites")
    arch = space.sample(random.Random(4))
    network, inherited = inherit_network(supernet, arch, 10, 1, 8)
    affine = [k for k in network.state_dict() if k.endswith((".weight", ".bias"))
              and isinstance(network.get_submodule(k.rsplit(".", 1)[0]), torch.nn.BatchNorm2d)]
    assert inherited >= len(network.state_dict()) - len(affine)  # all but BN scales and shifts a supernet may lack
    x = space.example_input(2, 1, 8)
    with torch.no_grad():
        torch.testing.assert_close(network.eval()(x), supernet(x, arch=arch), atol=1e-5, rtol=1e-5)


def test_cost_units_hold_the_skeleton_and_every_choice_of_an_architecture(space) -> None:
    space = small(space)
    try:
        units = space.cost_units(10, 1, 8)
    except ConfigError as exc:
        assert "no per-op cost model" in str(exc)
        return
    assert sum(u.choice is None for u in units) == 1  # the skeleton: what every network of the space runs
    choices = {u.choice for u in units}
    for seed in range(3):
        assert space.chosen(space.sample(random.Random(seed))) <= choices


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
