"""Bayesian optimisation over gene vectors: an exact Gaussian process with a Hamming kernel on the
one-hot encoding of the space's features (its genes, or e.g. nb101's path encoding), expected improvement, optimised over mutations of the incumbents plus random
samples (as in BANANAS' acquisition search, White et al., AAAI 2021).

With several workers, proposals made while others are in flight account for them by the kriging
believer (Ginsbourger et al., 2010): each pending candidate is added to the GP as if it had been
observed at the GP's own mean there. We chose it over the constant liar because for a GP it is the
one lie that changes nothing but what it should: the posterior mean stays where the data put it,
while the variance around the pending points shrinks, so expected improvement moves to other
regions instead of proposing the same neighbourhood N times; a constant lie (the worst or best value
seen) would also bend the mean, pessimistically or optimistically, by an amount set by the lie."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import ndtr

from nascli.errors import ConfigError
from nascli.registry import STRATEGIES
from nascli.spaces.base import Arch, SearchSpace
from nascli.strategies.base import Objective, Proposal, SampleStrategy, scalar
from nascli.strategies.genes import best_first, fresh


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise number of differing genes between the rows of `a` and `b` (= half the squared
    Euclidean distance of their one-hot encodings)."""
    return (a[:, None, :] != b[None, :, :]).sum(-1).astype(np.float64)


class HammingGP:
    """GP regression with k(x, x') = s2 * exp(-hamming(x, x') / lengthscale) on standardised targets.

    Hyper-parameters: lengthscale and noise ratio by maximum marginal likelihood over a small grid,
    signal variance in closed form (profiled out); exact, deterministic and cheap on <= a few hundred points.
    """

    LENGTHSCALES = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    NOISE_RATIOS = (1e-4, 1e-3, 1e-2, 1e-1)

    def fit(self, genes: Sequence[Sequence[int]], y: Sequence[float],
            hyper: tuple[float, float] | None = None) -> HammingGP:
        """Condition on (genes, y); hyper-parameters by marginal likelihood unless `hyper` =
        (lengthscale, noise ratio) is given (refitting them every step is rarely worth it)."""
        self.x = np.asarray(genes, dtype=np.int64)
        y = np.asarray(y, dtype=np.float64)
        self.mean, self.scale = float(y.mean()), float(y.std()) or 1.0
        self.y = (y - self.mean) / self.scale
        distances = hamming(self.x, self.x)
        grid = [hyper] if hyper else [(ell, r) for ell in self.LENGTHSCALES for r in self.NOISE_RATIOS]
        fits = [self._fit_one(distances, ell, r) for ell, r in grid]
        _, self.hyper, self.chol, self.alpha, self.s2 = max(fits, key=lambda f: f[0])
        self.lengthscale = self.hyper[0]
        return self

    def _fit_one(self, distances: np.ndarray, lengthscale: float, ratio: float) -> tuple:
        """(log marginal likelihood, (lengthscale, ratio), cholesky, alpha, s2) of one setting."""
        n = len(self.y)
        kernel = np.exp(-distances / lengthscale) + ratio * np.eye(n)
        chol = np.linalg.cholesky(kernel)
        alpha = solve_triangular(chol.T, solve_triangular(chol, self.y, lower=True), lower=False)
        s2 = max(float(self.y @ alpha) / n, 1e-12)
        loglik = -0.5 * n * math.log(s2) - np.log(np.diag(chol)).sum()
        return loglik, (lengthscale, ratio), chol, alpha, s2

    def predict(self, genes: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function, in the targets' units."""
        k = np.exp(-hamming(np.asarray(genes, dtype=np.int64), self.x) / self.lengthscale)
        mean = k @ self.alpha
        v = solve_triangular(self.chol, k.T, lower=True)
        var = np.clip(1.0 - (v * v).sum(0), 1e-12, None) * self.s2
        return mean * self.scale + self.mean, np.sqrt(var) * self.scale


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """EI of maximisation over `best` (all arrays in the same units)."""
    z = (mean - best - xi) / std
    return (mean - best - xi) * ndtr(z) + std * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


@STRATEGIES.register("bo")
class BayesianOptimisation(SampleStrategy):
    """`initial` random samples (a meta prior's best-predicted architectures first), then the unseen
    candidate of highest expected improvement among `mutations` one-gene mutations of each of the
    `incumbents` best and `random_candidates` samples."""

    def __init__(self, space: SearchSpace, seed: int, initial: int, incumbents: int, mutations: int,
                 random_candidates: int, xi: float, refit_every: int, max_retries: int) -> None:
        super().__init__(space, seed)
        if initial < 2:
            raise ConfigError(f"bo needs initial >= 2 random samples to fit its surrogate, got {initial}.")
        self.initial_design, self.incumbents, self.mutations = initial, incumbents, mutations
        self.random_candidates, self.xi, self.max_retries = random_candidates, xi, max_retries
        self.refit_every = max(1, refit_every)
        self.hyper: tuple[float, float] | None = None  # GP hyper-parameters of the last refit
        self.history: list[tuple[Arch, float]] = []
        self.pending: list[Arch] = []  # proposed, not yet told (several workers)
        self._fitted_at = 0            # observations when the hyper-parameters were last selected
        self.prior_score = None       # a meta prior's predictor: the GP models what it gets wrong

    def initial_size(self) -> int:
        return self.initial_design

    def warm_start(self, prior, task) -> None:
        """Initial design from the prior's best-predicted architectures, and its predictor as the
        GP's prior mean (y ~ a * predicted + b + GP residual, a and b by least squares)."""
        super().warm_start(prior, task)
        self.prior_score = prior.scorer(self.space, task)

    def propose(self) -> Proposal:
        arch = self.ask()
        self.pending.append(arch)
        return Proposal(arch)

    def ask(self) -> Arch:
        """Random while the initial design (pending candidates included) is not complete, or fewer
        than two results are in; then the candidate of highest EI, pending ones believed."""
        scored = [(a, scalar(y)) for a, y in self.history if math.isfinite(scalar(y))]
        if len(scored) + len(self.pending) < self.initial_design or len(scored) < 2:
            return self.next_initial() or fresh(lambda: self.space.sample(self.rng), self.seen, self.max_retries)
        candidates = [c for c in dict.fromkeys(self._candidates(scored)) if c not in self.seen]
        if not candidates:
            return fresh(lambda: self.space.sample(self.rng), self.seen, self.max_retries)
        # hyper-parameters re-selected every `refit_every` observations (several may arrive between asks)
        n = len(scored)
        refit = (self.hyper is None or n - self._fitted_at >= self.refit_every
                 or (n - self.initial_design) % self.refit_every == 0 and n != self._fitted_at)
        self._fitted_at = n if refit else self._fitted_at
        archs, y = [a for a, _ in scored], np.array([v for _, v in scored])
        trend = self._prior_trend(archs, y)
        features = [self.space.features(a) for a in archs]
        gp = HammingGP().fit(features, y - trend(archs), None if refit else self.hyper)
        self.hyper = gp.hyper
        best = max(y for _, y in scored)
        if self.pending:  # the kriging believer: pending candidates observed at the GP's mean
            believed_features = [self.space.features(a) for a in self.pending]
            believed = gp.predict(believed_features)[0]
            gp = HammingGP().fit(features + believed_features, np.concatenate([y - trend(archs), believed]), gp.hyper)
            best = max(best, float((believed + trend(self.pending)).max()))
        mean, std = gp.predict([self.space.features(c) for c in candidates])
        mean = mean + trend(candidates)
        choice = candidates[int(np.argmax(expected_improvement(mean, std, best, self.xi * gp.scale)))]
        self.seen.add(choice)
        return choice

    def tell(self, arch: Arch, objective: Objective) -> None:
        """Keep the objective; with Pareto objectives the GP models the first part (the metric) and
        the incumbents whose mutations are proposed are the non-dominated architectures."""
        if arch in self.pending:  # an arch asked by hand (tests) is told without having been pending
            self.pending.remove(arch)
        self.history.append((arch, objective))

    def _prior_trend(self, archs: list[Arch], y: np.ndarray):
        """archs -> a * prior score + b fitted to the observations (zero without a prior)."""
        if self.prior_score is None:
            return lambda batch: np.zeros(len(batch))
        scores = np.asarray(self.prior_score(archs), dtype=np.float64)
        design = np.stack([scores, np.ones_like(scores)], axis=1)
        (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
        return lambda batch: a * np.asarray(self.prior_score(batch), dtype=np.float64) + b

    def _candidates(self, scored: list[tuple[Arch, float]]) -> list[Arch]:
        """Mutations of the incumbents, then random samples (order fixed, for determinism)."""
        top = self._incumbents(scored)
        around = [self.space.mutate(a, self.rng) for a in top for _ in range(self.mutations)]
        return around + [self.space.sample(self.rng) for _ in range(self.random_candidates)]

    def _incumbents(self, scored: list[tuple[Arch, float]]) -> list[Arch]:
        """The `incumbents` best architectures: by objective, or, told Pareto points, the
        non-dominated ones first (NSGA-II's order), so that the whole front is improved on."""
        points = [(a, y) for a, y in self.history if isinstance(y, tuple) and math.isfinite(y[0])]
        if points:
            return [a for a, _ in best_first(points)][: self.incumbents]
        return [a for a, _ in sorted(scored, key=lambda s: -s[1])][: self.incumbents]
