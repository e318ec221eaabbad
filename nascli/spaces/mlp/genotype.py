"""An mlp architecture: its dense layers' widths (the depth is their number), then what every layer
shares: activation, normalisation, dropout, residual connections and the width each categorical
column is embedded in; its one-line and JSON forms, read without evaluating code.

    256-64|relu|batch|drop0.25|res|emb8

is two dense layers (256 and 64 units), each Linear -> BatchNorm -> ReLU -> Dropout(0.25) with a
residual connection, categorical codes embedded in 8 dimensions.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from nascli.errors import GenotypeError

ACTIVATIONS = ("relu", "gelu", "silu")
NORMS = ("none", "batch", "layer")
FORM_HINT = ("an mlp arch is '<width>-<width>...|<activation>|<norm>|drop<rate>|res or nores|emb<width>', "
             "e.g. 256-64|relu|batch|drop0.25|res|emb8")


class MLPArch(NamedTuple):
    widths: tuple[int, ...]  # units of each dense layer, input side first
    activation: str          # relu | gelu | silu
    norm: str                # none | batch | layer, after each layer's Linear
    dropout: float           # after each layer's activation
    residual: bool           # each layer adds its input (projected where the widths differ)
    embed: int               # embedding width of each categorical column given as a code


def to_str(arch: MLPArch) -> str:
    return (f"{'-'.join(map(str, arch.widths))}|{arch.activation}|{arch.norm}|drop{arch.dropout:g}|"
            f"{'res' if arch.residual else 'nores'}|emb{arch.embed}")


_FORM = re.compile(r"(\d+(?:-\d+)*)\|(\w+)\|(\w+)\|drop([0-9.]+)\|(res|nores)\|emb(\d+)")


def from_str(text: str) -> MLPArch:
    match = _FORM.fullmatch(str(text).strip().replace(" ", ""))
    if match is None:
        raise GenotypeError(f"Malformed mlp architecture {text!r}: {FORM_HINT}.")
    widths, act, norm, drop, res, emb = match.groups()
    try:
        dropout = float(drop)
    except ValueError:
        raise GenotypeError(f"Malformed dropout {drop!r} in mlp architecture {text!r}: {FORM_HINT}.") from None
    return MLPArch(tuple(int(w) for w in widths.split("-")), act, norm, dropout, res == "res", int(emb))


def to_json(arch: MLPArch) -> dict[str, Any]:
    return {"widths": list(arch.widths), "activation": arch.activation, "norm": arch.norm,
            "dropout": arch.dropout, "residual": arch.residual, "embed": arch.embed}


def from_json(obj: Any) -> MLPArch:
    if not isinstance(obj, dict) or set(obj) != set(MLPArch._fields):
        raise GenotypeError(f"An mlp arch in JSON is an object with keys {', '.join(MLPArch._fields)}, got {obj!r}.")
    widths = obj["widths"]
    if not isinstance(widths, list) or not all(type(w) is int for w in widths):
        raise GenotypeError(f"mlp widths must be a list of whole numbers, got {widths!r}.")
    if type(obj["residual"]) is not bool or type(obj["embed"]) is not int or not isinstance(obj["dropout"], (int, float)):
        raise GenotypeError(f"mlp residual must be true/false, embed a whole number, dropout a number: {obj!r}.")
    return MLPArch(tuple(widths), str(obj["activation"]), str(obj["norm"]), float(obj["dropout"]), obj["residual"], obj["embed"])
