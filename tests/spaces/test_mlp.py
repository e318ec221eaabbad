"""The mlp space: its architectures' forms, every sample-based strategy asked and told by hand over
it, SPOS training its single-path supernet on a real table, and the networks on table rows."""

from __future__ import annotations

import random

import pytest
import torch

from nascli.errors import ConfigError, GenotypeError
from nascli.registry import STRATEGIES
from nascli.spaces.mlp.genotype import MLPArch
from nascli.strategies.base import SearchContext
from nascli.weight_sharing.mixing import Gumbel, SinglePath, Softmax
from nascli.weight_sharing.supernet import build_supernet
from tests.configured import dataset, search_trainer, space, strategy

SAMPLE = [name for name, cls in STRATEGIES.items() if not cls.measures_candidates]


def test_the_string_and_the_autokeras_preset() -> None:
    mlp = space("mlp")
    arch = mlp.from_str("256-64|relu|batch|drop0.25|res|emb8")
    assert arch == MLPArch((256, 64), "relu", "batch", 0.25, True, 8) and mlp.to_str(arch) == "256-64|relu|batch|drop0.25|res|emb8"
    assert mlp.published["AUTOKERAS"] == mlp.from_str("32-32|relu|none|drop0|nores|emb4")
    with pytest.raises(GenotypeError, match="4 layers; this space has 1 to 3"):
        mlp.from_str("16-16-16-16|relu|none|drop0|nores|emb4")
    with pytest.raises(GenotypeError, match="'tanh' is not one of search_space.activations"):
        mlp.from_str("16|tanh|none|drop0|nores|emb4")


def test_mutation_changes_an_active_gene_only() -> None:
    mlp, rng = space("mlp"), random.Random(0)
    for _ in range(30):
        arch = mlp.sample(rng)
        assert mlp.mutate(arch, rng) != arch


def accuracy_like(arch: MLPArch) -> float:
    """A made-up task: two layers and batch norm help, width matters a little."""
    return 80.0 + 5.0 * (len(arch.widths) == 2) + 3.0 * (arch.norm == "batch") + arch.widths[0] / 1024


@pytest.mark.parametrize("name", SAMPLE)
def test_every_sample_based_strategy_searches_the_space(name: str) -> None:
    mlp = space("mlp").for_shape(dataset("wine").shape)
    chosen = strategy(name, mlp)
    chosen.setup(SearchContext("cpu", lambda: None, max_fidelity=4))
    seen = []
    for _ in range(8):
        proposal = chosen.propose()
        assert mlp.validate(proposal.arch) == proposal.arch
        chosen.tell(proposal.arch, accuracy_like(proposal.arch))
        seen.append(proposal.arch)
    assert len(set(seen)) > 1


def test_a_tables_categorical_columns_are_embedded_and_codes_out_of_range_clamped() -> None:
    mlp = space("mlp").for_shape(type("Shape", (), {"table": (5, 30)})())
    assert mlp.config()["categories"] == [5, 30]
    net = mlp.build_network(mlp.from_str("64|gelu|layer|drop0|res|emb8"), 3, 6, 1).eval()
    rows = torch.tensor([[0.1, -1.0, 0.5, 2.0, 4.0, 29.0], [0.0, 0.0, 0.0, 0.0, 99.0, -3.0]]).reshape(2, 6, 1, 1)
    assert net(rows).shape == (2, 3) and net.embed.tables[1].weight.shape == (30, 8)
    assert net.layers[0].linear.in_features == 4 + 2 * 8


def test_spos_trains_the_single_path_supernet_on_a_table() -> None:
    data = dataset("breast_cancer", max_train_samples=96)
    mlp = space("mlp", widths=[16, 32], max_depth=2).for_shape(data.shape)
    spos = strategy("spos", mlp, trainer=search_trainer("spos", epochs=2, batch_size=32))
    spos.setup(SearchContext("cpu", lambda: data))
    proposals = []
    while (proposal := spos.step()) is not None and len(proposals) < 4:
        proposals.append(proposal)
    assert proposals and all(mlp.validate(p.arch) == p.arch for p in proposals)
    supernet = build_supernet(mlp, 2, 30, 1, SinglePath())
    assert supernet(data.val.images[:4], arch=mlp.sample(random.Random(0))).shape == (4, 2)


@pytest.mark.parametrize("mixing", [Softmax, Gumbel])
def test_gradient_based_supernets_are_refused_with_the_strategies_that_search_it(mixing) -> None:
    with pytest.raises(ConfigError, match="searched by sample-based strategies and by strategy=spos or enas"):
        build_supernet(space("mlp"), 2, 13, 1, mixing())
