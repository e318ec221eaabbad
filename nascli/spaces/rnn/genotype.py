"""A recurrent cell: for each intermediate node one earlier state and one activation, and the
states whose mean is the cell's output (the DARTS reference code's rnn/genotypes.py Genotype),
its published instances and its one-line form, read without evaluating code.

Node 0 is the cell's input state (from x_t and h_{t-1}); node i (1..N) reads a state j < i.
"""

from __future__ import annotations

import ast
from typing import Any, NamedTuple

from nascli.errors import GenotypeError

OP_NAMES: tuple[str, ...] = ("none", "tanh", "relu", "sigmoid", "identity")  # a supernet's alpha columns
ACTIVATIONS: tuple[str, ...] = OP_NAMES[1:]  # what a genotype's pairs may name


class RNNGenotype(NamedTuple):
    """A recurrent cell, as the reference code's Genotype(recurrent=[(op, pred), ...], concat=...)."""

    recurrent: tuple[tuple[str, int], ...]
    concat: tuple[int, ...]


def full_concat(nodes: int) -> tuple[int, ...]:
    """Every intermediate node: DARTS' cell output is their mean."""
    return tuple(range(1, nodes + 1))


# Published cells (quark0/darts rnn/genotypes.py): DARTS' second-order PTB cell (55.7 test
# perplexity at 23M parameters, the reference code's DARTS_V2) and the ENAS PTB cell (56.3 at 24M).
PUBLISHED: dict[str, RNNGenotype] = {
    "DARTS_RNN": RNNGenotype(
        recurrent=(("sigmoid", 0), ("relu", 1), ("relu", 1), ("identity", 1), ("tanh", 2), ("sigmoid", 5),
                   ("tanh", 3), ("relu", 5)),
        concat=full_concat(8),
    ),
    "ENAS_PTB": RNNGenotype(
        recurrent=(("tanh", 0), ("tanh", 1), ("relu", 1), ("tanh", 3), ("tanh", 3), ("relu", 3), ("relu", 4),
                   ("relu", 7), ("relu", 8), ("relu", 8), ("relu", 8)),
        concat=(2, 5, 6, 9, 10, 11),
    ),
}

_FORM_HINT = ("a valid genotype reads Genotype(recurrent=[('sigmoid', 0), ('relu', 1), ...], concat=[1, 2, ...]) "
              f"where node i (from 1) reads a state j < i through one of: {', '.join(ACTIVATIONS)}")


def _malformed(problem: str) -> GenotypeError:
    return GenotypeError(f"Malformed recurrent genotype: {problem}; {_FORM_HINT}.")


def validate(arch: Any) -> RNNGenotype:
    """`arch` (a Genotype or (recurrent, concat) pair of lists) as an RNNGenotype, or why it is not one."""
    if not isinstance(arch, (tuple, list)) or len(arch) != 2:
        raise _malformed(f"need (recurrent, concat), got {arch!r}")
    recurrent, concat = arch
    if not isinstance(recurrent, (tuple, list)) or not recurrent:
        raise _malformed(f"recurrent must be a non-empty list of (op, state) pairs, got {recurrent!r}")
    pairs = []
    for node, pair in enumerate(recurrent, start=1):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise _malformed(f"node {node} is {pair!r}, not an (op, state) pair")
        op, pred = pair
        if op not in ACTIVATIONS:
            raise _malformed(f"node {node} names the unknown op {op!r}")
        if not isinstance(pred, int) or isinstance(pred, bool) or not 0 <= pred < node:
            raise _malformed(f"node {node} reads state {pred!r}, but only states 0..{node - 1} come before it")
        pairs.append((str(op), int(pred)))
    if isinstance(concat, range):
        concat = list(concat)
    if (not isinstance(concat, (tuple, list)) or not concat
            or any(not isinstance(c, int) or isinstance(c, bool) or not 1 <= c <= len(pairs) for c in concat)
            or list(concat) != sorted(set(concat))):
        raise _malformed(f"concat must list distinct nodes among 1..{len(pairs)} in order, got {concat!r}")
    return RNNGenotype(tuple(pairs), tuple(int(c) for c in concat))


def to_str(arch: RNNGenotype) -> str:
    arch = validate(arch)
    pairs = ", ".join(f"({op!r}, {pred})" for op, pred in arch.recurrent)
    return f"Genotype(recurrent=[{pairs}], concat=[{', '.join(map(str, arch.concat))}])"


def from_str(text: Any) -> RNNGenotype:
    """Parse `Genotype(recurrent=[...], concat=[...] or range(a, b))` with ast: literals only."""
    if not isinstance(text, str):
        raise _malformed(f"expected text, got {type(text).__name__}")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise _malformed(f"it does not parse ({exc.msg})") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "Genotype"
            and not tree.args and {k.arg for k in tree.keywords} == {"recurrent", "concat"}):
        raise _malformed(f"{text!r} is not Genotype(recurrent=..., concat=...)")
    fields: dict[str, Any] = {}
    for keyword in tree.keywords:
        node = keyword.value
        try:
            if (keyword.arg == "concat" and isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "range" and not node.keywords):
                fields["concat"] = list(range(*(ast.literal_eval(a) for a in node.args)))
            else:
                fields[str(keyword.arg)] = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, RecursionError) as exc:
            raise _malformed(f"`{keyword.arg}` is not a literal ({exc})") from None
    return validate((fields["recurrent"], fields["concat"]))


def to_json(arch: RNNGenotype) -> dict[str, Any]:
    arch = validate(arch)
    return {"recurrent": [[op, pred] for op, pred in arch.recurrent], "concat": list(arch.concat)}


def from_json(obj: Any) -> RNNGenotype:
    if not isinstance(obj, dict) or set(obj) != {"recurrent", "concat"}:
        raise _malformed(f"a JSON recurrent genotype is {{\"recurrent\": [[op, state], ...], \"concat\": [...]}}, got {obj!r}")
    return validate((obj["recurrent"], obj["concat"]))
