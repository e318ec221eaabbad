"""Regularized (aging) evolution, Real et al., AAAI 2019: mutate the best of a random sample of the
population, and let the oldest member die, so that good but lucky architectures do not linger.

With Pareto objectives (hardware.objective=pareto) it is NSGA-II-style (Deb et al., 2002): the
tournament ranks by non-dominated front and crowding distance, and the member that leaves is the
worst by that order instead of the oldest.

It is asynchronous as published (the paper's 450 workers): with several workers a child is made
whenever one frees, from the population of finished results only (a candidate in flight is no
member), and each result joins, and ages out the oldest, when it arrives."""

from __future__ import annotations

from collections import deque

from nascli import pareto
from nascli.errors import ConfigError
from nascli.registry import STRATEGIES
from nascli.spaces.base import Arch, SearchSpace
from nascli.strategies.base import Objective, SampleStrategy
from nascli.strategies.genes import Scored, fresh, tournament


@STRATEGIES.register("evolution")
class RegularizedEvolution(SampleStrategy):
    """The first `population` asks are random samples (or a meta prior's best-predicted
    architectures); then each ask mutates one gene (one op or edge) of the best of `sample_size`
    members, and each tell adds a member and removes the oldest."""

    def __init__(self, space: SearchSpace, seed: int, population: int, sample_size: int, max_retries: int) -> None:
        super().__init__(space, seed)
        if population < 1 or not 1 <= sample_size <= population:
            raise ConfigError(f"evolution needs population >= 1 and 1 <= sample_size <= population, "
                              f"got population={population}, sample_size={sample_size}.")
        self.population_size = population
        self.sample_size = sample_size
        self.max_retries = max_retries
        self.population: deque[Scored] = deque()
        self.asked = 0

    def initial_size(self) -> int:
        return self.population_size

    def ask(self) -> Arch:
        self.asked += 1
        if self.asked <= self.population_size and self.initial:
            return self.next_initial()
        if self.asked <= self.population_size or not self.population:
            return fresh(lambda: self.space.sample(self.rng), self.seen, self.max_retries)
        return fresh(self._child, self.seen, self.max_retries)

    def _child(self) -> Arch:
        """A one-gene mutation of the best of `sample_size` random members (re-drawn for each retry)."""
        parent, _ = tournament(self.population, self.sample_size, self.rng)
        return self.space.mutate(parent, self.rng)

    def tell(self, arch: Arch, objective: Objective) -> None:
        self.population.append((arch, objective))
        if len(self.population) <= self.population_size:
            return
        if isinstance(objective, tuple):  # NSGA-II's survival: the last front's most crowded dies (oldest among equals)
            order = pareto.ranking([value for _, value in self.population])
            del self.population[max(range(len(self.population)), key=lambda i: (order[i], -i))]
        else:
            self.population.popleft()  # aging: the oldest dies, whatever its fitness
