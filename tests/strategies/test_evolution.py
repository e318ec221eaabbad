"""Regularized evolution: random start, mutation of tournament winners, aging, replay."""

from __future__ import annotations

import random

import pytest
from configured import space, strategy

from nascli.errors import ConfigError
from nascli.strategies.genes import tournament


def hamming(space, a, b) -> int:
    return sum(x != y for x, y in zip(space.encode(a), space.encode(b)))


def test_aging_removes_the_oldest_not_the_worst() -> None:
    evo = strategy("evolution", space("nb201"), seed=0, population=3, sample_size=2)
    archs = [evo.ask() for _ in range(4)]
    for arch, value in zip(archs, [99.0, 1.0, 2.0, 3.0]):
        evo.tell(arch, value)
    assert [a for a, _ in evo.population] == archs[1:]  # the best (and oldest) member died


def test_first_population_asks_are_random_then_children_are_one_gene_mutations() -> None:
    nb201 = space("nb201")
    evo = strategy("evolution", nb201, seed=3, population=5, sample_size=2)
    first = [evo.ask() for _ in range(5)]
    rng = random.Random(3)
    assert first == [nb201.sample(rng) for _ in range(5)]
    for i, arch in enumerate(first):
        evo.tell(arch, float(i))
    for _ in range(10):
        child = evo.ask()
        assert any(hamming(nb201, child, member) == 1 for member, _ in evo.population)
        evo.tell(child, 0.0)


def test_tournament_picks_the_best_of_its_sample() -> None:
    population = [(f"a{i}", float(v)) for i, v in enumerate([5, 1, 9, 3, 7, 2])]
    for seed in range(20):
        drawn = random.Random(seed).sample(range(len(population)), 3)
        expected = max((population[i] for i in drawn), key=lambda m: m[1])
        assert tournament(population, 3, random.Random(seed)) == expected
    assert tournament(population, 6, random.Random(0)) == ("a2", 9.0)


def test_evolution_on_darts_stays_valid_and_is_deterministic() -> None:
    darts = space("darts")

    def run(seed: int) -> list:
        evo, out = strategy("evolution", darts, seed=seed, population=4, sample_size=2), []
        for i in range(12):
            arch = evo.ask()
            assert darts.is_valid(darts.encode(arch))
            evo.tell(arch, float(i % 5))
            out.append(arch)
        return out

    assert run(1) == run(1) != run(2)


def test_bad_sizes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="sample_size"):
        strategy("evolution", space("nb201"), population=3, sample_size=4)


def test_replay_restores_the_population_so_asks_continue_identically() -> None:
    from nascli.search.resume import replay

    nb201 = space("nb201")
    full, asked = strategy("evolution", nb201, seed=5, population=6, sample_size=3), []
    for i in range(20):
        arch = full.ask()
        full.tell(arch, float(i % 7))
        asked.append(arch)
    resumed = strategy("evolution", nb201, seed=5, population=6, sample_size=3)
    replay(resumed, nb201, [{"trial": i, "arch_str": nb201.to_str(a), "objective": float(i % 7)}
                            for i, a in enumerate(asked[:9])])
    again = []
    for i in range(9, 20):
        arch = resumed.ask()
        resumed.tell(arch, float(i % 7))
        again.append(arch)
    assert again == asked[9:]


def test_told_pareto_points_it_selects_and_keeps_by_nsga_ii_order() -> None:
    """With (accuracy, -latency) points the population keeps the non-dominated and drops the worst
    by front and crowding, not the oldest; tournaments prefer the front."""
    nb201 = space("nb201")
    evolution = strategy("evolution", nb201, seed=0, population=3, sample_size=3)
    archs = [nb201.sample(random.Random(i)) for i in range(4)]
    points = [(90.0, -10.0), (50.0, -20.0), (80.0, -2.0), (85.0, -5.0)]  # the second is dominated by all
    for arch, point in zip(archs, points):
        evolution.tell(arch, point)
    assert [a for a, _ in evolution.population] == [archs[0], archs[2], archs[3]]  # the oldest kept, the worst gone

    evolution.population.append((archs[1], (10.0, -50.0)))
    picks = {tournament(evolution.population, 4, random.Random(s))[0] for s in range(5)}
    assert archs[1] not in picks
