"""The NAS-Bench-101 space: cells pruned and told apart as the benchmark does, genes, and networks
whose size matches the benchmark's table for every one of its cells."""

from __future__ import annotations

import csv
import json
import random

import pytest
import torch
from configured import space as configured_space
from nasrun import read_json, read_trials, run

from nascli.benchmarks import table_path
from nascli.errors import GenotypeError
from nascli.spaces.nb101 import NB101Space
from nascli.spaces.nb101.cell import graph_hash, make_cell, prune
from nascli.spaces.nb101.network import vertex_channels

BENCHMARK = table_path("nb101")  # ships inside the package
IN, OUT, C3, C1, MP = "input", "output", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"


def rows() -> list[dict[str, str]]:
    with open(BENCHMARK, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def space() -> NB101Space:
    return configured_space("nb101")  # the benchmark's size: 128 stem channels, 3 stacks of 3 cells


def permuted(matrix, ops, order):
    """The same cell with its interior vertices relabelled: new vertex k is old vertex order[k]."""
    n = len(ops)
    perm = (0, *order, n - 1)
    where = {old: new for new, old in enumerate(perm)}
    new = [[0] * n for _ in range(n)]
    for i in range(n):
        for j in range(n):
            if matrix[i][j]:
                new[where[i]][where[j]] = 1
    return new, [ops[v] for v in perm]


@pytest.mark.slow
def test_every_table_cell_builds_with_the_benchmarks_parameter_count(space):
    """The builder is the benchmark's: stem, stacks, projections and channel splitting. All 500 cells."""
    table = rows()
    assert len(table) == 500
    differ = []
    with torch.device("meta"):  # count parameters without allocating them
        for line, row in enumerate(table, start=2):
            net = space.build_network(space.from_str(row["arch"]), 10, 3, 32)
            params = sum(p.numel() for p in net.parameters())
            if params != round(float(row["params_m"]) * 1e6):  # the issue asks 0.5%; every cell matches exactly
                differ.append((line, params, row["params_m"]))
    assert differ == []
    first = space.from_str(table[0]["arch"])  # the README's fact: 4.095778 M
    assert sum(p.numel() for p in space.build_network(first, 10, 3, 32).parameters()) == 4_095_778


def test_pruning_drops_vertices_off_every_input_output_path():
    # vertex 2 has no way out, vertex 3 no way in: both go, with their edges
    matrix = [[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    pruned, ops = prune(tuple(map(tuple, matrix)), (IN, C3, C1, MP, OUT))
    assert pruned == ((0, 1, 0), (0, 0, 1), (0, 0, 0)) and ops == (IN, C3, OUT)
    # the table's first cell: vertex 5 feeds nothing, so the 6 remaining vertices keep 9 edges
    cell = NB101Space(8, 3, 1).from_str(rows()[0]["arch"])
    assert cell.num_vertices == 6 and cell.num_edges == 9


def test_cells_whose_input_does_not_reach_the_output_or_with_too_many_edges_are_refused():
    with pytest.raises(GenotypeError, match="input does not reach the output"):
        make_cell([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [IN, C3, OUT])
    dense = [[int(j > i) for j in range(7)] for i in range(7)]  # 21 edges, all on paths
    with pytest.raises(GenotypeError, match="21 edges after pruning; the benchmark allows at most 9"):
        make_cell(dense, [IN, C3, C3, C3, C3, C3, OUT])
    # 10 edges before pruning, 9 after (vertex 4's dangling edge goes): a valid cell
    matrix = [[0, 1, 1, 1, 0, 0, 1], [0, 0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1, 0],
              [0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]]
    matrix[0][4] = 1
    assert sum(map(sum, matrix)) == 10 and make_cell(matrix, [IN, C3, C1, MP, C3, C1, OUT]).num_edges <= 9


@pytest.mark.parametrize("text, problem", [
    ("not json", "not JSON"),
    ('{"matrix": [[0,1],[0,0]]}', "exactly the keys"),
    ('{"matrix": [[0,1],[1,0]], "ops": ["input","output"]}', "upper triangular"),
    ('{"matrix": [[0,2],[0,0]], "ops": ["input","output"]}', "only 0 and 1"),
    ('{"matrix": [[0,1,1],[0,0,1],[0,0,0]], "ops": ["input","conv5x5","output"]}', "Unknown NAS-Bench-101 op 'conv5x5'"),
    ('{"matrix": [[0,1],[0,0]], "ops": ["output","input"]}', "first op is 'input'"),
    ('{"matrix": [[0,1,1],[0,0,1]], "ops": ["input","conv3x3-bn-relu","output"]}', "square"),
])
def test_malformed_specs_say_what_is_wrong(space, text, problem):
    with pytest.raises(GenotypeError, match=problem):
        space.from_str(text)


def test_isomorphic_cells_are_one_cell_and_hash_alike_different_cells_differ(space):
    rng = random.Random(0)
    for _ in range(100):
        cell = space.sample(rng)
        matrix, ops = cell.pruned
        interior = list(range(1, len(ops) - 1))
        for _ in range(5):
            order = rng.sample(interior, len(interior))
            new_matrix, new_ops = permuted(matrix, ops, order)
            if any(new_matrix[i][j] for i in range(len(ops)) for j in range(i + 1)):
                continue  # not a topological order: no valid spec has it
            other = make_cell(new_matrix, new_ops)
            assert other == cell and hash(other) == hash(cell) and space.encode(other) == space.encode(cell)
            assert graph_hash(*other.pruned) == graph_hash(*cell.pruned)
    # the table's cells: one architecture exactly when the benchmark's hash says so
    cells = [space.from_str(row["arch"]) for row in rows()]
    hashes = [space.graph_hash(c) for c in cells]
    assert len(set(cells)) == len(set(hashes)) == len(set(zip(cells, hashes)))
    assert len(set(hashes)) > 250  # many table rows are specs of one cell; most cells differ


def test_a_different_op_or_edge_is_a_different_cell():
    chain = [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    a = make_cell(chain, [IN, C3, C1, OUT])
    assert a != make_cell(chain, [IN, C1, C3, OUT])  # the op order along a chain matters
    assert graph_hash(*a.pruned) != graph_hash(*make_cell(chain, [IN, C1, C3, OUT]).pruned)
    skip = [row[:] for row in chain]
    skip[0][3] = 1
    assert a != make_cell(skip, [IN, C3, C1, OUT])


def test_output_channels_split_among_the_vertices_feeding_it():
    # vertices 1, 2, 4 feed the output (128 = 43 + 43 + 42); vertex 3 only feeds 4, so it takes 4's width
    matrix = ((0, 1, 1, 1, 0, 1), (0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 1, 0), (0, 0, 0, 0, 0, 1),
              (0, 0, 0, 0, 0, 0))
    assert vertex_channels(64, 128, matrix) == [64, 43, 43, 42, 42, 128]


def test_networks_run_at_any_input_size_and_keep_the_spec_they_were_given(space):
    small = configured_space("nb101", channels=4, cells_per_stack=1)
    for row in rows()[:20]:
        cell = small.from_str(row["arch"])
        for size in (8, 5):
            assert small.build_network(cell, 10, 1, size)(torch.randn(2, 1, size, size)).shape == (2, 10)
        # the string keeps the vertex order the benchmark built (it decides who gets the remainder channel)
        assert small.to_str(small.from_str(small.to_str(cell))) == small.to_str(cell)


def test_genes_pad_small_cells_and_mutation_changes_the_cell(space):
    rng = random.Random(1)
    bare = space.smallest()
    assert space.decode(space.encode(bare)) == bare and len(space.encode(bare)) == 26
    assert space.mutate(bare, rng) != bare  # two genes away: no single flip adds a vertex on a path
    for _ in range(50):
        cell = space.sample(rng)
        child = space.mutate(cell, rng)
        assert child != cell and space.is_valid(space.encode(child))
    assert json.loads(space.to_str(bare)) == {"matrix": [[0, 1], [0, 0]], "ops": [IN, OUT]}


@pytest.mark.parametrize("strategy, evaluator", [("bohb", "train"), ("evolution", "zero_cost")])
def test_searches_that_train_or_score_networks_then_retrain_the_result(tmp_path, strategy, evaluator):
    search, retrain = tmp_path / "search", tmp_path / "retrain"
    result = run("search", "search_space=nb101", "debug=smoke", f"strategy={strategy}", f"evaluator={evaluator}",
                 "budget.trials=4", "plots=false", run_dir=search)
    assert result.code == 0, result.text
    assert len(read_trials(search)) == 4 and read_json(search / "genotype.json")["search_space"] == "nb101"
    result = run("retrain", f"genotype={search}", "debug=smoke", "plots=false", run_dir=retrain)
    assert result.code == 0, result.text
    assert (retrain / "model.pt").exists()


def test_features_are_the_path_encoding_of_the_cell(space):
    """One bit per sequence of interior ops that an input -> output path passes (White et al.)."""
    from nascli.spaces.nb101.cell import PATHS

    chain = make_cell([[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], [IN, C3, C1, OUT])
    bits = space.features(chain)
    assert len(bits) == 364 and {i for i, b in enumerate(bits) if b} == {PATHS[(0, 1)], PATHS[()]}
    assert space.features(space.smallest()) == [1] + [0] * 363
    matrix, ops = permuted([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [IN, C3, MP, OUT], (2, 1))
    assert space.features(make_cell(matrix, ops)) == space.features(
        make_cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [IN, C3, MP, OUT]))

