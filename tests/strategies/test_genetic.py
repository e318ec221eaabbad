"""Genetic algorithm: crossover validity, per-gene mutation rate, tournament and elitism, replay."""

from __future__ import annotations

import random

import pytest
from configured import space, strategy

from nascli.spaces.subset import SubsetSpace
from nascli.strategies.genes import crossover, crossover_genes, crossover_points, mutate_genes


def test_crossover_genes_switch_parent_at_each_cut() -> None:
    a, b = [0] * 8, [1] * 8
    assert crossover_genes(a, b, [3]) == [0, 0, 0, 1, 1, 1, 1, 1]
    assert crossover_genes(a, b, [2, 5]) == [0, 0, 1, 1, 1, 0, 0, 0]
    cuts = crossover_points(8, 3, random.Random(0))
    assert len(cuts) == 3 and cuts == sorted(set(cuts)) and all(1 <= c < 8 for c in cuts)


@pytest.mark.parametrize("space_name", ["nb201", "darts"])
@pytest.mark.parametrize("points", [1, 3])
def test_crossover_children_are_valid_and_made_of_parent_genes(space_name, points) -> None:
    searched, rng = space(space_name), random.Random(0)
    for _ in range(200):
        a, b = searched.sample(rng), searched.sample(rng)
        child = crossover(searched, a, b, points, rng)
        genes, ga, gb = searched.encode(child), searched.encode(a), searched.encode(b)
        assert searched.is_valid(genes)
        assert all(g in (x, y) for g, x, y in zip(genes, ga, gb))


def test_crossover_stays_in_a_subset_space() -> None:
    base, rng = space("nb201"), random.Random(1)
    subset = SubsetSpace(base, [base.sample(rng) for _ in range(30)])
    for _ in range(100):
        child = crossover(subset, subset.sample(rng), subset.sample(rng), 1, rng)
        assert child in subset.archs


@pytest.mark.parametrize("space_name", ["nb201", "darts"])
def test_per_gene_mutation_rate(space_name) -> None:
    """Each gene changes with probability rate / P(at least one change) (a child always differs)."""
    searched, rate, trials, rng = space(space_name), 0.2, 3000, random.Random(0)
    arch = searched.sample(rng)
    genes = searched.encode(arch)
    changed = [0] * len(genes)
    for _ in range(trials):
        child = searched.encode(mutate_genes(searched, arch, rate, rng))
        assert searched.is_valid(child) and child != genes
        for i, (x, y) in enumerate(zip(genes, child)):
            changed[i] += x != y
    mean = sum(changed) / len(changed) / trials
    if space_name == "nb201":  # unconstrained: the exact conditional rate
        expected = rate / (1 - (1 - rate) ** len(genes))
        assert abs(mean - expected) < 0.02
    else:  # darts redraws children whose node inputs collide: the rate stays near `rate`
        assert 0.5 * rate < mean < 1.5 * rate


def test_generations_keep_elites_and_ask_only_children() -> None:
    ga = strategy("genetic", space("nb201"), seed=0, population=6, elites=2, tournament_size=2)
    gen0 = [ga.ask() for _ in range(6)]
    assert len(set(gen0)) == 6
    for i, arch in enumerate(gen0):
        ga.tell(arch, float(i))
    assert [v for _, v in ga.population] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    gen1 = [ga.ask() for _ in range(4)]  # population - elites children
    for arch in gen1:
        ga.tell(arch, -1.0)
    assert {a for a, _ in ga.population[:2]} == {gen0[5], gen0[4]}  # the two best survive
    assert [a for a, _ in ga.population[2:]] == gen1 and len(ga.population) == 6


@pytest.mark.parametrize("kind", ["one_point", "multi_point"])
def test_ga_runs_on_darts_with_valid_children(kind) -> None:
    darts = space("darts")
    ga = strategy("genetic", darts, seed=0, population=4, elites=1, crossover=kind)
    for i in range(15):
        arch = ga.ask()
        assert darts.is_valid(darts.encode(arch))
        ga.tell(arch, float(i % 4))


def test_replay_restores_the_ga_so_asks_continue_identically() -> None:
    from nascli.search.resume import replay

    nb201 = space("nb201")

    def score(arch) -> float:
        return float(sum(nb201.encode(arch)))

    full, asked = strategy("genetic", nb201, seed=4, population=5, elites=1), []
    for _ in range(17):
        arch = full.ask()
        full.tell(arch, score(arch))
        asked.append(arch)
    rows = [{"trial": i, "arch_str": nb201.to_str(a), "objective": score(a)} for i, a in enumerate(asked[:8])]
    resumed = strategy("genetic", nb201, seed=4, population=5, elites=1)
    replay(resumed, nb201, rows)
    again = []
    for _ in range(9):
        arch = resumed.ask()
        resumed.tell(arch, score(arch))
        again.append(arch)
    assert again == asked[8:]
