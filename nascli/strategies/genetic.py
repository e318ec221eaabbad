"""A generational genetic algorithm: tournament selection, k-point crossover, per-gene mutation
and elitism. Elites carry over with their known fitness, so only children cost queries.

With several workers a generation is a batch: its children are proposed as fast as workers free,
and the next generation waits (WAIT) until every child of this one is told, since selection needs
the whole generation's fitness."""

from __future__ import annotations

from collections import deque

from nascli.errors import ConfigError
from nascli.registry import STRATEGIES
from nascli.spaces.base import Arch, SearchSpace
from nascli.strategies.base import WAIT, Objective, Proposal, SampleStrategy, _Wait
from nascli.strategies.genes import Scored, best_first, crossover, fresh, mutate_genes, tournament

CROSSOVERS = {"one_point": 1, "multi_point": None}


@STRATEGIES.register("genetic")
class GeneticAlgorithm(SampleStrategy):
    """Generation 0 is `population` random samples (a meta prior's best-predicted architectures
    first); each next generation is the `elites` best of the last one plus `population - elites`
    children (two tournament winners, crossover with probability `crossover_rate`, then each gene
    mutated with probability `mutation_rate`, null: 1/genes)."""

    def __init__(self, space: SearchSpace, seed: int, population: int, tournament_size: int, crossover: str,
                 crossover_points: int, crossover_rate: float, mutation_rate: float | None, elites: int,
                 max_retries: int) -> None:
        super().__init__(space, seed)
        if crossover not in CROSSOVERS:
            raise ConfigError(f"genetic crossover must be one of {', '.join(CROSSOVERS)}, got {crossover!r}.")
        if population < 2 or not 0 <= elites < population or tournament_size < 1:
            raise ConfigError(f"genetic needs population >= 2, 0 <= elites < population and tournament_size >= 1, "
                              f"got population={population}, elites={elites}, tournament_size={tournament_size}.")
        genes = len(space.cardinalities())
        self.population_size, self.elites, self.tournament_size = population, elites, tournament_size
        self.points = CROSSOVERS[crossover] or crossover_points
        self.crossover_rate = crossover_rate
        self.mutation_rate = 1.0 / genes if mutation_rate is None else mutation_rate
        self.max_retries = max_retries
        self.population: list[Scored] = []  # the last complete generation, elites included
        self.children: list[Scored] = []     # the current generation's evaluated children
        self.queue: deque[Arch] = deque()    # the current generation's children not yet asked
        self.expected = 0                    # children in the current generation

    def initial_size(self) -> int:
        return self.population_size

    def propose(self) -> Proposal | _Wait:
        """The generation's next child; WAIT while its children are all out but not all told."""
        if not self.queue and self.expected:
            return WAIT
        return Proposal(self.ask())

    def ask(self) -> Arch:
        if not self.queue and not self.expected:
            self.queue.extend(self._next_generation())
            self.expected = len(self.queue)
        return self.queue.popleft()

    def tell(self, arch: Arch, objective: Objective) -> None:
        self.children.append((arch, objective))
        if len(self.children) == self.expected:  # the generation is complete
            self.expected = 0
            self.population = self._survivors() + self.children
            self.children = []

    def _survivors(self) -> list[Scored]:
        """The elites of the last generation (none before generation 1)."""
        return best_first(self.population)[: self.elites] if self.population else []

    def _next_generation(self) -> list[Arch]:
        if not self.population:
            initial = list(iter(self.next_initial, None))
            return initial + [fresh(lambda: self.space.sample(self.rng), self.seen, self.max_retries)
                              for _ in range(self.population_size - len(initial))]
        return [fresh(self._child, self.seen, self.max_retries) for _ in range(self.population_size - self.elites)]

    def _child(self) -> Arch:
        mother, _ = tournament(self.population, self.tournament_size, self.rng)
        father, _ = tournament(self.population, self.tournament_size, self.rng)
        child = mother
        if self.rng.random() < self.crossover_rate:
            child = crossover(self.space, mother, father, self.points, self.rng, self.max_retries)
        return mutate_genes(self.space, child, self.mutation_rate, self.rng, self.max_retries)
