"""A NAS-Bench-201 architecture: 6 op names in the benchmark's edge order, and its string form.

The string is the benchmark's own, e.g. `|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|...|`:
node j lists its inputs from nodes 0..j-1 as `op~i`; nodes are separated by `+`.
"""

from __future__ import annotations

from typing import Any

from nascli.errors import GenotypeError
from nascli.spaces.ops import NB201_OPS

OP_NAMES: tuple[str, ...] = tuple(NB201_OPS)  # gene values and supernet alpha columns, in this order
# (to_node, from_node) of each edge, in the order of the benchmark's string and of our genes
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_NODES = 4

NB201Arch = tuple[str, ...]

_EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
_FORM_HINT = (
    f"a valid string has the form |op~0|+|op~0|op~1|+|op~0|op~1|op~2|, e.g. {_EXAMPLE}, "
    f"with each op one of: {', '.join(OP_NAMES)}"
)


def edges_into(to_node: int) -> list[tuple[int, int]]:
    """(edge index, from_node) of the edges into `to_node`, in string order."""
    return [(e, src) for e, (dst, src) in enumerate(EDGES) if dst == to_node]


def validate(arch: Any) -> NB201Arch:
    """`arch` as a tuple of 6 NAS-Bench-201 op names, or a GenotypeError saying what is wrong."""
    if not isinstance(arch, (tuple, list)) or len(arch) != len(EDGES):
        raise GenotypeError(f"A NAS-Bench-201 arch is a sequence of {len(EDGES)} op names, got {arch!r}.")
    for i, op in enumerate(arch):
        if op not in OP_NAMES:
            raise GenotypeError(f"Unknown NAS-Bench-201 op {op!r} at edge {i}; valid ops: {', '.join(OP_NAMES)}.")
    return tuple(arch)


def to_str(arch: NB201Arch) -> str:
    arch = validate(arch)
    nodes = ("|".join(f"{arch[e]}~{src}" for e, src in edges_into(n)) for n in range(1, NUM_NODES))
    return "+".join(f"|{node}|" for node in nodes)


def from_str(text: Any) -> NB201Arch:
    if not isinstance(text, str):
        raise GenotypeError(f"A NAS-Bench-201 arch string must be text, got {type(text).__name__}.")
    text = text.strip()
    groups = text.split("+")
    if len(groups) != NUM_NODES - 1:
        raise _malformed(text, f"need {NUM_NODES - 1} '+'-separated nodes, got {len(groups)}")
    return tuple(op for n, group in enumerate(groups, start=1) for op in _parse_node(group, n, text))


def _malformed(text: str, problem: str) -> GenotypeError:
    """The error for a NAS-Bench-201 string that does not parse: what is wrong, and the valid form."""
    return GenotypeError(f"Malformed NAS-Bench-201 architecture string {text!r}: {problem}; {_FORM_HINT}.")


def _parse_node(group: str, node: int, text: str) -> list[str]:
    """The op names of one `|op~0|op~1|...|` group of `text`, which must list inputs 0..node-1 in order."""
    if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
        raise _malformed(text, f"node {node} ({group!r}) must start and end with '|'")
    edges = group[1:-1].split("|")
    if len(edges) != node:
        raise _malformed(text, f"node {node} needs {node} edge(s), got {len(edges)}")
    ops = []
    for source, edge in enumerate(edges):
        op, sep, index = edge.partition("~")
        if not sep or index != str(source):
            raise _malformed(text, f"edge {edge!r} of node {node} should read 'op~{source}'")
        if op not in OP_NAMES:
            raise _malformed(text, f"unknown op {op!r} on edge {edge!r} of node {node}")
        ops.append(op)
    return ops
