"""The NAS-Bench-101 cell space: DAGs on 7 vertices with at most 9 edges and 3 interior ops
(423,624 distinct cells; Ying et al., ICML 2019).

Genes are the 21 entries above the diagonal of the 7x7 adjacency matrix (row by row), then the op
of each of the 5 interior vertices: 26 genes. A gene vector is valid when, pruned as the benchmark
prunes, its input reaches its output through at most 9 edges. Many gene vectors are one cell
(pruned-away vertices, isomorphic relabellings); Cell compares by the canonical pruned graph, and a
cell's genes are those of that graph, so strategies and tables see each cell once, and cells that
differ by one edge or op are near in gene space. Networks are the benchmark's (see network.py).
"""

from __future__ import annotations

import functools

import random
from collections.abc import Sequence
from typing import Any

from torch import nn

from nascli.errors import ConfigError, GenotypeError
from nascli.registry import SPACES
from nascli.spaces.base import MAX_CHANNELS, MAX_DEPTH, SearchSpace, check_sizes
from nascli.spaces.nb101.cell import INPUT, MAX_EDGES, MAX_VERTICES, OPS, OUTPUT, Cell, graph_hash, make_cell, \
    parse_spec, parse_text, path_encoding, prune, spec_text
from nascli.spaces.nb101.network import NB101Network

EDGES: tuple[tuple[int, int], ...] = tuple((i, j) for i in range(MAX_VERTICES) for j in range(i + 1, MAX_VERTICES))
INTERIOR = MAX_VERTICES - 2


@SPACES.register("nb101")
class NB101Space(SearchSpace):
    """The NAS-Bench-101 space, its networks sized by the stem width and the stacks of cells."""

    def __init__(self, channels: int, stacks: int, cells_per_stack: int) -> None:
        if min(channels, stacks, cells_per_stack) < 1:
            raise ConfigError(f"nb101 needs channels, stacks and cells_per_stack >= 1, got "
                              f"{channels}, {stacks} and {cells_per_stack}.")
        # every stack after the first doubles the width: the last stack has channels * 2**(stacks - 1)
        check_sizes("nb101", stacks=(stacks, MAX_CHANNELS.bit_length()), cells_per_stack=(cells_per_stack, MAX_DEPTH))
        check_sizes("nb101", channels=(channels, MAX_CHANNELS >> (stacks - 1)))
        self.channels, self.stacks, self.cells_per_stack = channels, stacks, cells_per_stack

    def config(self) -> dict[str, Any]:
        return {"channels": self.channels, "stacks": self.stacks, "cells_per_stack": self.cells_per_stack}

    # --- genes -----------------------------------------------------------------------------------
    def cardinalities(self) -> list[int]:
        return [2] * len(EDGES) + [len(OPS)] * INTERIOR

    def encode(self, arch: Cell) -> list[int]:
        """The genes of the cell's canonical pruned spec, so that one cell has one gene vector and
        cells one edge or op apart are one gene apart (what mutation, crossover and BO's kernel see).
        A spec of fewer than 7 vertices is padded with unconnected vertices (placed before the
        output), which pruning removes again."""
        if not isinstance(arch, Cell):
            raise GenotypeError(f"A NAS-Bench-101 architecture is a cell spec, got {arch!r}.")
        matrix, ops = arch.key
        n = len(ops)
        where = list(range(n - 1)) + [MAX_VERTICES - 1]  # old vertex -> padded vertex
        edges = {(where[i], where[j]) for i in range(n) for j in range(n) if matrix[i][j]}
        padded = ["conv3x3-bn-relu"] * INTERIOR
        for v in range(1, n - 1):
            padded[v - 1] = ops[v]
        return [int(e in edges) for e in EDGES] + [OPS.index(op) for op in padded]

    def _spec(self, genes: Sequence[int]) -> tuple[tuple[tuple[int, ...], ...], tuple[str, ...]]:
        edges = {e for e, g in zip(EDGES, genes) if g}
        matrix = tuple(tuple(int((i, j) in edges) for j in range(MAX_VERTICES)) for i in range(MAX_VERTICES))
        return matrix, (INPUT, *(OPS[g] for g in genes[len(EDGES):]), OUTPUT)

    def is_valid(self, genes: Sequence[int]) -> bool:
        """In range, and pruned as the benchmark prunes: input reaches output, at most 9 edges."""
        if not super().is_valid(genes):
            return False
        try:
            pruned, _ = prune(*self._spec(genes))
        except ValueError:
            return False
        return sum(map(sum, pruned)) <= MAX_EDGES

    def decode(self, genes: Sequence[int]) -> Cell:
        if not super().is_valid(genes):
            raise GenotypeError(f"Invalid NAS-Bench-101 genes {list(genes)}: need {len(EDGES)} edge bits, then "
                                f"{INTERIOR} op indices in 0..{len(OPS) - 1}.")
        return make_cell(*self._spec(genes))

    def validate(self, arch: Any) -> Cell:
        """`arch` itself when it is a cell of this space: its own vertex order is kept, since it
        decides which vertices get the remainder channels (the canonical relabelling is the same
        cell, with a network of up to a few channels moved)."""
        if not isinstance(arch, Cell):
            raise GenotypeError(f"A NAS-Bench-101 architecture is a cell spec, got {arch!r}.")
        if arch.num_edges > MAX_EDGES:
            raise GenotypeError(f"Invalid NAS-Bench-101 cell: {arch.num_edges} edges after pruning; the benchmark "
                                f"allows at most {MAX_EDGES}.")
        return arch

    def mutate(self, arch: Cell, rng: random.Random) -> Cell:
        """A different cell one gene away (an edge flipped or an op changed), uniformly among those;
        two genes away only for a cell with no such neighbour (the bare input -> output cell)."""
        genes = tuple(self.encode(arch))
        for distance in (1, 2):
            cells = [cell for cell in self._valid_neighbours(genes, distance) if cell != arch]
            if cells:
                return cells[rng.randrange(len(cells))]
        raise GenotypeError(f"The NAS-Bench-101 cell {self.to_str(arch)} has no valid neighbour.")

    @functools.lru_cache(maxsize=4096)  # noqa: B019 (spaces live as long as the process anyway)
    def _valid_neighbours(self, genes: tuple[int, ...], distance: int) -> tuple[Cell, ...]:
        """The cells of the valid gene vectors `distance` genes away, remembered: pruning and
        decoding every neighbour is most of a mutation's cost, and searches mutate the same cells often."""
        return tuple(map(self.decode, (n for n in self._neighbours(list(genes), distance) if self.is_valid(n))))

    def _neighbours(self, genes: list[int], distance: int) -> list[list[int]]:
        """Gene vectors differing from `genes` in exactly `distance` (1 or 2) genes."""
        cards = self.cardinalities()
        ones = [genes[:i] + [v] + genes[i + 1:] for i, c in enumerate(cards) for v in range(c) if v != genes[i]]
        if distance == 1:
            return ones
        return [[*n[:j], v, *n[j + 1:]] for n in ones for j, c in enumerate(cards)
                if n[j] == genes[j] and j > next(i for i in range(len(n)) if n[i] != genes[i])
                for v in range(c) if v != genes[j]]

    def features(self, arch: Cell) -> list[int]:
        """The path encoding of BANANAS (White et al., AAAI 2021): one bit per sequence of interior
        ops an input -> output path can pass (3^0 + ... + 3^5 = 364), set when the cell has such a
        path. On the nb101 table a GP predicts accuracy better from it than from the genes (Kendall
        tau 0.49 against 0.39 from 50 cells)."""
        return path_encoding(*self.validate(arch).key)

    def smallest(self) -> Cell:
        """The cell whose input feeds its output directly (one projection per cell)."""
        return make_cell([[0, 1], [0, 0]], [INPUT, OUTPUT])

    # --- text and JSON -----------------------------------------------------------------------------
    def to_str(self, arch: Cell) -> str:
        """The canonical pruned spec as compact JSON: the benchmark table's `arch` form."""
        return spec_text(*self.validate(arch).pruned)

    def from_str(self, text: str) -> Cell:
        return parse_text(text)

    def to_json(self, arch: Cell) -> dict[str, Any]:
        matrix, ops = self.validate(arch).pruned
        return {"matrix": [list(row) for row in matrix], "ops": list(ops)}

    def from_json(self, obj: Any) -> Cell:
        return parse_spec(obj)

    def graph_hash(self, arch: Cell) -> str:
        """The benchmark's own key of the cell (NAS-Bench-101's module hash of the pruned spec)."""
        return graph_hash(*self.validate(arch).pruned)

    # --- networks --------------------------------------------------------------------------------
    def build_network(self, arch: Cell, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        """The benchmark network of the cell's pruned spec; any input of at least 1x1 pixel works (the
        max pools round up, the head pools globally)."""
        if input_size < 1:
            raise ConfigError(f"nb101 networks need inputs of at least 1x1 pixel, got {input_size}.")
        matrix, ops = self.validate(arch).pruned
        return NB101Network(matrix, ops, self.channels, self.stacks, self.cells_per_stack, num_classes,
                            in_channels)
