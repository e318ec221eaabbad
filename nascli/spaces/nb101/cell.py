"""A NAS-Bench-101 cell: a DAG on at most 7 vertices (input, interior ops, output), as the benchmark's
ModelSpec defines it (Ying et al., ICML 2019).

A spec is an upper-triangular 0/1 adjacency matrix (`matrix[i][j] = 1`: an edge i -> j) and one op
per vertex, vertex 0 the input and the last the output. The benchmark prunes every vertex that is
not on an input -> output path, and calls two specs the same cell when their pruned graphs are
isomorphic (it fingerprints them with `graph_hash`). `Cell` keeps the spec it was given (genes are
read from it) and compares, hashes and prints by its canonical pruned form, so isomorphic and
pruned-away variants are one architecture wherever nascli keeps architectures in sets or tables.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from collections.abc import Sequence
from typing import Any

from nascli.errors import GenotypeError

INPUT, OUTPUT = "input", "output"
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")  # the benchmark's order (its hash labels)
MAX_VERTICES = 7
MAX_EDGES = 9

Matrix = tuple[tuple[int, ...], ...]
_EXAMPLE = '{"matrix": [[0,1,1],[0,0,1],[0,0,0]], "ops": ["input","conv3x3-bn-relu","output"]}'


class Cell:
    """A NAS-Bench-101 spec as given (`matrix`, `ops`), equal to another when their pruned graphs are
    isomorphic. `pruned` is the canonical pruned spec: what is built, printed and compared."""

    __slots__ = ("matrix", "ops", "pruned", "key", "_hash")

    def __init__(self, matrix: Matrix, ops: tuple[str, ...]) -> None:
        self.matrix, self.ops = matrix, ops
        self.pruned: tuple[Matrix, tuple[str, ...]] = prune(matrix, ops)
        self.key = canonical(*self.pruned)
        self._hash = hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cell) and self.key == other.key

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"Cell({spec_text(*self.pruned)})"

    @property
    def num_edges(self) -> int:
        return sum(map(sum, self.pruned[0]))

    @property
    def num_vertices(self) -> int:
        return len(self.pruned[1])


def make_cell(matrix: Any, ops: Any) -> Cell:
    """A Cell from a spec's matrix and ops, or a GenotypeError saying what breaks the benchmark's rules."""
    matrix, ops = _check_shape(matrix, ops)
    try:
        cell = Cell(matrix, ops)
    except ValueError as exc:
        raise GenotypeError(f"Invalid NAS-Bench-101 cell: {exc}.") from None
    if cell.num_edges > MAX_EDGES:
        raise GenotypeError(f"Invalid NAS-Bench-101 cell: {cell.num_edges} edges after pruning; the benchmark "
                            f"allows at most {MAX_EDGES}.")
    return cell


def _check_shape(matrix: Any, ops: Any) -> tuple[Matrix, tuple[str, ...]]:
    """The spec as tuples, checked: square 0/1 upper-triangular matrix of 2..7 vertices, input first,
    output last, interior ops from OPS."""
    if not isinstance(matrix, (list, tuple)) or not all(isinstance(row, (list, tuple)) for row in matrix):
        raise GenotypeError(f"A NAS-Bench-101 matrix is a list of rows of 0/1, got {matrix!r}; e.g. {_EXAMPLE}.")
    n = len(matrix)
    if not 2 <= n <= MAX_VERTICES or any(len(row) != n for row in matrix):
        raise GenotypeError(f"A NAS-Bench-101 matrix is square with 2 to {MAX_VERTICES} rows, got "
                            f"{[len(row) for row in matrix]} columns per row.")
    if any(v not in (0, 1) or isinstance(v, bool) for row in matrix for v in row):
        raise GenotypeError(f"A NAS-Bench-101 matrix holds only 0 and 1, got {matrix!r}.")
    if any(matrix[i][j] for i in range(n) for j in range(i + 1)):
        raise GenotypeError("A NAS-Bench-101 matrix is upper triangular (edges go from vertex i to j > i only), "
                            f"got {matrix!r}.")
    if not isinstance(ops, (list, tuple)) or len(ops) != n:
        raise GenotypeError(f"A NAS-Bench-101 cell of {n} vertices needs {n} ops, got {ops!r}.")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise GenotypeError(f"A NAS-Bench-101 cell's first op is {INPUT!r} and its last {OUTPUT!r}, got {list(ops)}.")
    bad = [op for op in ops[1:-1] if op not in OPS]
    if bad:
        raise GenotypeError(f"Unknown NAS-Bench-101 op {bad[0]!r}; interior ops are: {', '.join(OPS)}.")
    return tuple(tuple(int(v) for v in row) for row in matrix), tuple(ops)


def prune(matrix: Matrix, ops: tuple[str, ...]) -> tuple[Matrix, tuple[str, ...]]:
    """The spec without the vertices that lie on no input -> output path (the benchmark's pruning);
    ValueError when the input does not reach the output."""
    n = len(ops)
    keep = _reachable(matrix, 0, forward=True) & _reachable(matrix, n - 1, forward=False)
    if 0 not in keep or n - 1 not in keep:
        raise ValueError("the input does not reach the output")
    kept = sorted(keep)
    return tuple(tuple(matrix[i][j] for j in kept) for i in kept), tuple(ops[i] for i in kept)


def _reachable(matrix: Matrix, start: int, forward: bool) -> set[int]:
    """Vertices reachable from `start` along edges (forward) or against them."""
    n, seen, frontier = len(matrix), {start}, [start]
    while frontier:
        v = frontier.pop()
        for w in range(n):
            if w not in seen and (matrix[v][w] if forward else matrix[w][v]):
                seen.add(w)
                frontier.append(w)
    return seen


@functools.lru_cache(maxsize=65536)
def canonical(matrix: Matrix, ops: tuple[str, ...]) -> tuple[Matrix, tuple[str, ...]]:
    """One representative per isomorphism class: of the relabellings of the interior vertices that
    keep the matrix upper triangular, the least (ops, matrix). At most 5! = 120 orders to try."""
    n = len(ops)
    best = None
    for order in itertools.permutations(range(1, n - 1)):
        perm = (0, *order, n - 1)  # new vertex k is old vertex perm[k]
        if any(matrix[perm[i]][perm[j]] for i in range(n) for j in range(i)):
            continue  # an edge would point backwards: not a topological order
        candidate = (tuple(OPS.index(ops[v]) for v in perm[1:-1]),
                     tuple(tuple(matrix[perm[i]][perm[j]] for j in range(n)) for i in range(n)))
        if best is None or candidate < best:
            best = candidate
    assert best is not None  # the identity order is always topological
    return best[1], (INPUT, *(OPS[k] for k in best[0]), OUTPUT)


def graph_hash(matrix: Matrix, ops: Sequence[str]) -> str:
    """The benchmark's fingerprint of a (pruned) spec: iterated MD5 hashes of each vertex's in- and
    out-degree and op label, refined by its neighbours' hashes, as NAS-Bench-101's graph_util.hash_module
    computes it (labels: -1 input, -2 output, an interior op its index in OPS)."""
    n = len(ops)
    labels = [-1, *(OPS.index(op) for op in ops[1:-1]), -2]
    in_degree = [sum(matrix[i][j] for i in range(n)) for j in range(n)]
    out_degree = [sum(row) for row in matrix]
    hashes = [_md5(str((out_degree[v], in_degree[v], labels[v]))) for v in range(n)]
    for _ in range(n):
        hashes = [_md5("".join(sorted(hashes[w] for w in range(n) if matrix[w][v])) + "|"
                       + "".join(sorted(hashes[w] for w in range(n) if matrix[v][w])) + "|" + hashes[v])
                  for v in range(n)]
    return _md5(str(sorted(hashes)))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


# every sequence of 0..5 interior ops, in order of length then op: the path encoding's positions
PATHS: dict[tuple[int, ...], int] = {p: i for i, p in enumerate(
    p for length in range(MAX_VERTICES - 1) for p in itertools.product(range(len(OPS)), repeat=length))}


def path_encoding(matrix: Matrix, ops: Sequence[str]) -> list[int]:
    """One bit per op sequence in PATHS: whether some input -> output path of the spec passes exactly
    those interior ops (White et al.'s path encoding; the same for isomorphic specs)."""
    n, bits = len(ops), [0] * len(PATHS)

    def walk(v: int, seq: tuple[int, ...]) -> None:
        for w in range(v + 1, n):
            if matrix[v][w]:
                if w == n - 1:
                    bits[PATHS[seq]] = 1
                else:
                    walk(w, (*seq, OPS.index(ops[w])))

    walk(0, ())
    return bits


def spec_text(matrix: Matrix, ops: Sequence[str]) -> str:
    """The spec as compact JSON, the form of the benchmark table's `arch` column."""
    return json.dumps({"matrix": [list(row) for row in matrix], "ops": list(ops)}, separators=(",", ":"))


def parse_spec(obj: Any) -> Cell:
    """A Cell from a {"matrix": ..., "ops": ...} mapping, or a GenotypeError naming what is wrong."""
    if not isinstance(obj, dict) or set(obj) != {"matrix", "ops"}:
        raise GenotypeError(f"A NAS-Bench-101 cell is a mapping with exactly the keys \"matrix\" and \"ops\", "
                            f"got {obj!r}; e.g. {_EXAMPLE}.")
    return make_cell(obj["matrix"], obj["ops"])


def parse_text(text: Any) -> Cell:
    """A Cell from its JSON text (the table's `arch` column, genotype.json's `arch_str`)."""
    if not isinstance(text, str):
        raise GenotypeError(f"A NAS-Bench-101 cell string must be text, got {type(text).__name__}.")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GenotypeError(f"Malformed NAS-Bench-101 cell {text!r}: not JSON ({exc.msg}); e.g. {_EXAMPLE}.") from None
    return parse_spec(obj)
