"""BOHB (Falkner et al., ICML 2018): Hyperband whose new candidates come from a TPE-style model.

The model is fitted at the highest fidelity with enough results: the best `top_fraction` of them
and the rest each get a kernel density over gene vectors, and of `samples` candidates drawn around
the good ones (kernels widened by `bandwidth_factor`), the one with the highest good/bad density
ratio is tried. A `random_fraction` of candidates stays uniform, which keeps Hyperband's guarantee.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np

from nascli.errors import ConfigError
from nascli.registry import STRATEGIES
from nascli.spaces.base import Arch, SearchSpace
from nascli.strategies.base import Objective, scalar
from nascli.strategies.fidelity import MultiFidelitySearch, Rung, hyperband
from nascli.strategies.genes import fresh


class CategoricalKDE:
    """A product of Aitchison-Aitken kernels over categorical genes: gene j keeps a point's value
    with weight 1 - bw_j and spreads bw_j evenly over its other values.

    Each gene's bandwidth follows a normal-reference rule for categories: its spread (the share of
    points off its most common value) times n^(-1 / (4 + d)), at least `min_bandwidth` and at most
    (c - 1) / c, which is uniform.
    """

    def __init__(self, points: Sequence[Sequence[int]], cardinalities: Sequence[int], min_bandwidth: float) -> None:
        self.points = np.asarray(points, dtype=np.int64)
        self.cards = np.asarray(cardinalities, dtype=np.int64)
        n, d = self.points.shape
        most_common = np.array([np.bincount(col, minlength=c).max() for col, c in zip(self.points.T, self.cards)])
        spread = 1.0 - most_common / n
        uniform = (self.cards - 1) / np.maximum(self.cards, 1)
        self.bandwidth = np.minimum(uniform, np.maximum(min_bandwidth, spread * n ** (-1.0 / (4 + d))))

    def log_density(self, genes: Sequence[int]) -> float:
        """log of the mean over points of the product of the genes' kernels."""
        same = self.points == np.asarray(genes, dtype=np.int64)
        others = np.maximum(self.cards - 1, 1)
        kernel = np.where(same, 1.0 - self.bandwidth, self.bandwidth / others)
        logs = np.log(np.maximum(kernel, 1e-300)).sum(axis=1)
        top = logs.max()
        return float(top + np.log(np.exp(logs - top).mean()))

    def sample(self, rng: random.Random, bandwidth_factor: float) -> list[int]:
        """A point's genes, each changed to another value with its widened bandwidth's probability."""
        point = self.points[rng.randrange(len(self.points))]
        uniform = (self.cards - 1) / np.maximum(self.cards, 1)
        widened = np.minimum(uniform, self.bandwidth * bandwidth_factor)
        genes = []
        for value, card, bw in zip(point.tolist(), self.cards.tolist(), widened.tolist()):
            if card > 1 and rng.random() < bw:
                value = rng.choice([v for v in range(card) if v != value])
            genes.append(value)
        return genes


@STRATEGIES.register("bohb")
class BOHB(MultiFidelitySearch):
    """Hyperband's brackets; new candidates from the density-ratio model once a fidelity holds
    `min_points` results (default: genes + 1), uniform before that and for `random_fraction`."""

    def __init__(self, space: SearchSpace, seed: int, min_fidelity: int, max_fidelity: int | None, eta: int,
                 random_fraction: float, top_fraction: float, samples: int, bandwidth_factor: float,
                 min_bandwidth: float, min_points: int | None, max_retries: int, warm_start_size: int) -> None:
        super().__init__(space, seed, min_fidelity, max_fidelity, eta, max_retries, warm_start_size)
        if not 0.0 <= random_fraction <= 1.0 or not 0.0 < top_fraction < 1.0:
            raise ConfigError(f"strategy.random_fraction must be in [0, 1] and strategy.top_fraction in (0, 1), "
                              f"got {random_fraction} and {top_fraction}.")
        if samples < 1 or bandwidth_factor <= 0 or min_bandwidth <= 0:
            raise ConfigError("strategy.samples, strategy.bandwidth_factor and strategy.min_bandwidth must be positive.")
        self.random_fraction, self.top_fraction, self.samples = random_fraction, top_fraction, samples
        self.bandwidth_factor, self.min_bandwidth = bandwidth_factor, min_bandwidth
        self.min_points = min_points or len(space.cardinalities()) + 1
        self.results: dict[int, list[tuple[list[int], float]]] = {}  # fidelity -> (genes, objective)
        self.modelled = 0  # candidates drawn from the model (the rest were uniform)

    def brackets(self, max_fidelity: int) -> list[list[Rung]]:
        return hyperband(self.min_fidelity, max_fidelity, self.eta)

    def observe(self, arch: Arch, fidelity: int, objective: Objective) -> None:
        value = scalar(objective)
        self.results.setdefault(fidelity, []).append((self.space.encode(arch), value if math.isfinite(value)
                                                      else -math.inf))

    def ask(self) -> Arch:
        prior = self.next_initial()
        if prior is not None:
            return prior
        models = self._models()
        if models is None or self.rng.random() < self.random_fraction:
            return fresh(lambda: self.space.sample(self.rng), self.seen, self.max_retries)
        arch = self._best_ratio(*models)
        if arch is None:
            return fresh(lambda: self.space.sample(self.rng), self.seen, self.max_retries)
        self.seen.add(arch)
        self.modelled += 1
        return arch

    def _models(self) -> tuple[CategoricalKDE, CategoricalKDE] | None:
        """The good and bad densities at the highest fidelity with enough results, if any."""
        for fidelity in sorted(self.results, reverse=True):
            results = self.results[fidelity]
            if len(results) < self.min_points + 2:
                continue
            ranked = sorted(results, key=lambda r: -r[1])
            good = max(self.min_points, round(self.top_fraction * len(ranked)))
            bad = max(self.min_points, len(ranked) - good)
            if good >= len(ranked):
                continue
            cards = self.space.cardinalities()
            return (CategoricalKDE([g for g, _ in ranked[:good]], cards, self.min_bandwidth),
                    CategoricalKDE([g for g, _ in ranked[good:good + bad]], cards, self.min_bandwidth))
        return None

    def _best_ratio(self, good: CategoricalKDE, bad: CategoricalKDE) -> Arch | None:
        """Of `samples` valid, untried candidates drawn around the good points, the one whose
        good-to-bad density ratio is highest (None if every draw was invalid or tried)."""
        best, best_score = None, -math.inf
        for _ in range(self.samples):
            genes = good.sample(self.rng, self.bandwidth_factor)
            if not self.space.is_valid(genes):
                continue
            arch = self.space.decode(genes)
            if arch in self.seen:
                continue
            score = good.log_density(genes) - bad.log_density(genes)
            if score > best_score:
                best, best_score = arch, score
        return best
