"""A DARTS architecture: the paper's Genotype (normal and reduction cells of (op, input) pairs),
its published instances, and its one-line form, read without evaluating code.
"""

from __future__ import annotations

import ast
from typing import Any, NamedTuple

from nascli.errors import GenotypeError
from nascli.spaces.ops import DARTS_OPS

OP_NAMES: tuple[str, ...] = tuple(DARTS_OPS)  # an edge's candidates, `none` included: a supernet's alpha columns
GENOTYPE_OPS: tuple[str, ...] = tuple(op for op in OP_NAMES if op != "none")  # what a genotype's pairs may name
CELLS = ("normal", "reduce")

Cell = tuple[tuple[str, int], ...]  # 2*steps (op_name, input_index) pairs, two per node


class Genotype(NamedTuple):
    """A DARTS architecture, as in the paper's genotypes.py (tuples, so that it is hashable)."""

    normal: Cell
    normal_concat: tuple[int, ...]
    reduce: Cell
    reduce_concat: tuple[int, ...]


# The genotypes published with the paper (quark0/darts, cnn/genotypes.py).
PUBLISHED: dict[str, Genotype] = {
    "DARTS_V1": Genotype(
        normal=(("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
                ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)),
        normal_concat=(2, 3, 4, 5),
        reduce=(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
                ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)),
        reduce_concat=(2, 3, 4, 5),
    ),
    "DARTS_V2": Genotype(
        normal=(("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)),
        normal_concat=(2, 3, 4, 5),
        reduce=(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)),
        reduce_concat=(2, 3, 4, 5),
    ),
}

_FORM_HINT = (
    "a valid genotype reads Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ...], reduce_concat=[2, 3, 4, 5]) "
    f"with ops from: {', '.join(GENOTYPE_OPS)}"
)


# --- text ---------------------------------------------------------------------------------
def _malformed(problem: str) -> GenotypeError:
    """The error for a DARTS genotype that cannot be read: what is wrong, and the valid form."""
    return GenotypeError(f"Malformed DARTS genotype: {problem}; {_FORM_HINT}.")


def _is_range_call(node: ast.expr) -> bool:
    """Whether `node` is written `range(...)` with positional arguments only."""
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
        and not node.keywords
    )


def _literal(node: ast.expr, field: str) -> Any:
    """The value of one keyword argument: a literal, or `range(a, b)` for the concat fields."""
    try:
        if field.endswith("_concat") and _is_range_call(node):
            return range(*(ast.literal_eval(arg) for arg in node.args))
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError) as exc:
        raise _malformed(f"`{field}` is not a literal list ({exc})") from None


def _parse_fields(text: str) -> dict[str, Any]:
    """The four keyword values of a `Genotype(normal=..., ...)` call, read without evaluating code."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        raise _malformed(f"{text!r} is not a Genotype(...) expression") from None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
        raise _malformed(f"{text!r} is not a Genotype(...) expression")
    if call.args:
        raise _malformed("fields must be given by name (normal=..., normal_concat=..., ...)")
    fields: dict[str, Any] = {}
    for keyword in call.keywords:
        if keyword.arg not in Genotype._fields or keyword.arg in fields:
            raise _malformed(f"unexpected or repeated field {keyword.arg!r}")
        fields[keyword.arg] = _literal(keyword.value, keyword.arg)
    missing = [f for f in Genotype._fields if f not in fields]
    if missing:
        raise _malformed(f"missing field(s) {', '.join(missing)}")
    return fields


def _format_cell(cell: Cell) -> str:
    return "[" + ", ".join(f"({op!r}, {src})" for op, src in cell) + "]"


def parse(text: Any) -> Genotype:
    """A Genotype from its `Genotype(normal=[...], ...)` form (not yet checked against a space)."""
    if not isinstance(text, str):
        raise GenotypeError(f"A DARTS genotype string must be text, got {type(text).__name__}.")
    return Genotype(**_parse_fields(text))


def format(arch: Genotype) -> str:  # noqa: A001 - the inverse of parse
    """The paper's one-line form of a (checked) Genotype."""
    return (
        f"Genotype(normal={_format_cell(arch.normal)}, normal_concat={list(arch.normal_concat)}, "
        f"reduce={_format_cell(arch.reduce)}, reduce_concat={list(arch.reduce_concat)})"
    )


# --- checks ------------------------------------------------------------------------------------
def validate(arch: Any, steps: int, concat: tuple[int, ...]) -> Genotype:
    """`arch` as a Genotype of tuples with `steps` nodes per cell and outputs `concat`, or a
    GenotypeError saying why not."""
    if not isinstance(arch, tuple) or len(arch) != len(Genotype._fields):
        raise GenotypeError(
            f"A DARTS arch is a Genotype(normal, normal_concat, reduce, reduce_concat), got {arch!r}."
        )
    normal, normal_concat, reduce, reduce_concat = arch
    return Genotype(
        _check_cell(normal, "normal", steps),
        _check_concat(normal_concat, "normal_concat", steps, concat),
        _check_cell(reduce, "reduce", steps),
        _check_concat(reduce_concat, "reduce_concat", steps, concat),
    )


def _check_cell(cell: Any, field: str, steps: int) -> Cell:
    if not isinstance(cell, (list, tuple)) or len(cell) != 2 * steps:
        raise GenotypeError(f"DARTS genotype `{field}` must list {2 * steps} (op, input) pairs, got {cell!r}.")
    pairs = tuple(_check_pair(pair, k // 2, field) for k, pair in enumerate(cell))
    for node in range(steps):
        if pairs[2 * node][1] == pairs[2 * node + 1][1]:
            raise GenotypeError(
                f"DARTS genotype `{field}`: node {node} takes input {pairs[2 * node][1]} twice; "
                "its two inputs must be distinct."
            )
    return pairs


def _check_pair(pair: Any, node: int, field: str) -> tuple[str, int]:
    if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and type(pair[1]) is int):
        raise GenotypeError(f"DARTS genotype `{field}`: {pair!r} is not an (op_name, input_index) pair.")
    op, src = pair
    if op not in GENOTYPE_OPS:
        raise GenotypeError(
            f"DARTS genotype `{field}`: unknown op {op!r} at node {node}; allowed: {', '.join(GENOTYPE_OPS)}."
        )
    if not 0 <= src < node + 2:
        raise GenotypeError(
            f"DARTS genotype `{field}`: node {node} cannot take input {src}; it may use states 0..{node + 1}."
        )
    return (op, src)


def _check_concat(concat: Any, field: str, steps: int, expected: tuple[int, ...]) -> tuple[int, ...]:
    valid = isinstance(concat, (list, tuple, range)) and len(concat) == len(expected)
    if not valid or tuple(concat) != expected:
        raise GenotypeError(
            f"DARTS genotype `{field}` must be {list(expected)} in this space "
            f"(steps={steps}, multiplier={len(expected)}), got {concat!r}."
        )
    return expected
