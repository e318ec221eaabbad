"""Bayesian optimisation: the GP surrogate fits known functions; asks are valid, new and replayable."""

from __future__ import annotations

import random

import numpy as np
import pytest
from configured import space, strategy

from nascli.errors import ConfigError
from nascli.strategies.bo import HammingGP, expected_improvement

NB201 = space("nb201")


def one_hot(space, genes) -> np.ndarray:
    return np.concatenate([np.eye(c)[g] for g, c in zip(genes, space.cardinalities())])


def test_gp_fits_a_linear_function_of_the_one_hot_encoding_better_than_a_constant() -> None:
    rng = random.Random(0)
    weights = np.random.default_rng(0).normal(size=sum(NB201.cardinalities()))
    genes = [NB201.encode(NB201.sample(rng)) for _ in range(300)]
    y = np.array([one_hot(NB201, g) @ weights for g in genes])
    gp = HammingGP().fit(genes[:100], y[:100])
    mean, std = gp.predict(genes[100:])
    mse, constant_mse = np.mean((mean - y[100:]) ** 2), np.mean((y[:100].mean() - y[100:]) ** 2)
    assert mse < 0.3 * constant_mse
    assert np.all(std > 0)


def test_gp_interpolates_its_training_points() -> None:
    rng = random.Random(1)
    genes = [NB201.encode(NB201.sample(rng)) for _ in range(20)]
    y = np.arange(20.0)
    mean, std = HammingGP().fit(genes, y).predict(genes)
    assert np.allclose(mean, y, atol=1.0) and np.all(std < np.std(y))


def test_expected_improvement_prefers_higher_mean_and_more_uncertainty() -> None:
    ei = expected_improvement(np.array([0.0, 1.0, 0.0]), np.array([1.0, 1.0, 2.0]), best=0.5)
    assert ei[1] > ei[0] and ei[2] > ei[0] and np.all(ei > 0)


@pytest.mark.parametrize("space_name", ["nb201", "darts"])
def test_asks_are_valid_unseen_and_deterministic(space_name: str) -> None:
    searched = space(space_name)

    def run(seed: int) -> list:
        bo, asked = strategy("bo", searched, seed=seed, initial=4, random_candidates=20), []
        for i in range(10):
            arch = bo.ask()
            assert searched.is_valid(searched.encode(arch)) and arch not in asked
            bo.tell(arch, float(sum(searched.encode(arch))))
            asked.append(arch)
        return asked

    assert run(0) == run(0) != run(1)


def test_too_small_initial_design_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="initial"):
        strategy("bo", NB201, initial=1)


def test_the_surrogate_models_the_spaces_features_not_its_genes(monkeypatch: pytest.MonkeyPatch) -> None:
    """nb101 offers its cells' path encoding (364 bits) for surrogates; BO's GP is fitted on it."""
    nb101 = space("nb101")
    seen_widths = []
    fit = HammingGP.fit

    def recording_fit(self, genes, y, hyper=None):
        seen_widths.append(len(genes[0]))
        return fit(self, genes, y, hyper)

    monkeypatch.setattr(HammingGP, "fit", recording_fit)
    bo = strategy("bo", nb101, seed=0, initial=3)
    for i in range(5):
        arch = bo.ask()
        bo.tell(arch, float(i))
    assert seen_widths and set(seen_widths) == {len(nb101.features(arch))} == {364}
