"""Gene-vector operators shared by the sample-based strategies (mutation, crossover, selection).

Everything goes through the space's gene interface (cardinalities/encode/decode/is_valid/sample/
mutate), so one implementation serves every space, constrained ones (darts, a table subset) included.
Randomness comes only from the `random.Random` passed in, so strategies stay replayable.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from nascli import pareto
from nascli.spaces.base import Arch, SearchSpace

Scored = tuple[Arch, Any]  # an architecture and its objective: a number, or a Pareto point (higher is better)


def fresh(propose: Callable[[], Arch], seen: set[Arch], retries: int) -> Arch:
    """The first proposal not in `seen` within `retries` extra tries (else the last one); marks it seen.

    Avoids spending queries on repeats while unseen candidates are likely to exist.
    """
    arch = propose()
    for _ in range(retries):
        if arch not in seen:
            break
        arch = propose()
    seen.add(arch)
    return arch


def tournament(population: Sequence[Scored], size: int, rng: random.Random) -> Scored:
    """The best of `size` members drawn uniformly without replacement (the earliest among equals).
    With Pareto objectives (tuples), the best by NSGA-II's order: front, then crowding distance."""
    contestants = rng.sample(range(len(population)), min(size, len(population)))
    if population and isinstance(population[0][1], tuple):
        order = pareto.ranking([objective for _, objective in population])
        return population[min(contestants, key=lambda i: (order[i], i))]
    return population[max(contestants, key=lambda i: (population[i][1], -i))]


def best_first(population: Sequence[Scored]) -> list[Scored]:
    """Members from the best: by objective, or by NSGA-II's order for Pareto objectives (stable)."""
    if population and isinstance(population[0][1], tuple):
        order = pareto.ranking([objective for _, objective in population])
        return [population[i] for i in sorted(range(len(population)), key=lambda i: (order[i], i))]
    return sorted(population, key=lambda m: -m[1])


def mutate_genes(space: SearchSpace, arch: Arch, rate: float, rng: random.Random, retries: int = 20) -> Arch:
    """Change each gene to another value with probability `rate` (at least one change in all).

    An invalid result is redrawn; after `retries` failures the space's own one-gene mutation is used,
    which every space keeps valid.
    """
    genes = space.encode(arch)
    cards = space.cardinalities()
    for _ in range(retries):
        new = [_maybe_change(g, c, rate, rng) for g, c in zip(genes, cards)]
        if new != genes and space.is_valid(new):
            return space.decode(new)
    return space.mutate(arch, rng)


def _maybe_change(gene: int, cardinality: int, rate: float, rng: random.Random) -> int:
    """`gene`, or with probability `rate` another value of its range."""
    if cardinality < 2 or rng.random() >= rate:
        return gene
    return rng.choice([v for v in range(cardinality) if v != gene])


def crossover_points(length: int, points: int, rng: random.Random) -> list[int]:
    """`points` distinct sorted cut positions in 1..length-1 (fewer if the vector is short)."""
    return sorted(rng.sample(range(1, length), min(points, length - 1)))


def crossover_genes(a: Sequence[int], b: Sequence[int], cuts: Sequence[int]) -> list[int]:
    """The child that takes genes from `a`, switching parent at every cut position."""
    child, parents, start = [], (a, b), 0
    for k, end in enumerate([*cuts, len(a)]):
        child.extend(parents[k % 2][start:end])
        start = end
    return child


def crossover(space: SearchSpace, a: Arch, b: Arch, points: int, rng: random.Random, retries: int = 20) -> Arch:
    """A valid child of `a` and `b` by `points`-point crossover; invalid children are redrawn.

    With no valid child in `retries` draws (e.g. a constrained subset of the space), a copy of
    parent `a` is returned, so the caller's mutation still varies it.
    """
    ga, gb = space.encode(a), space.encode(b)
    for _ in range(retries):
        first, second = (ga, gb) if rng.random() < 0.5 else (gb, ga)
        child = crossover_genes(first, second, crossover_points(len(ga), points, rng))
        if space.is_valid(child):
            return space.decode(child)
    return a
