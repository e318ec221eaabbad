"""A chain-space architecture: its feature layers in order (convolutions and pools; the slots the
search left as identities are dropped), then the widths of its fully connected layers; its
one-line and JSON forms, read without evaluating code.

The string is the feature layers, `-`-separated, then ` | ` and the fully connected layers,
`-`-separated (either side `none` when it has no layer):

    conv3x32s1-maxs2-conv5x64s2 | fc128-fc64

`conv<kernel>x<width>s<stride>` is a convolution (conv-BN-ReLU), `max`/`avg` with `s<stride>` a
pooling layer (`maxs2`, `avgs1`), `fc<width>` a fully connected layer (Linear-ReLU). An identity
`id` (a skipped layer slot) may be written anywhere and is dropped: the network is the same.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from nascli.errors import GenotypeError

CONV, IDENTITY = "conv", "id"
POOLS = ("max", "avg")
NONE = "none"  # either side of the string, when it has no layer
_CONV = re.compile(r"conv(\d+)x(\d+)s(\d+)")
_POOL = re.compile(r"(max|avg)s(\d+)")
_DENSE = re.compile(r"fc(\d+)")
FORM_HINT = ("a valid string is the layers '-'-separated, each conv<kernel>x<width>s<stride>, max|avg s<stride> "
             "or id (skipped), then ' | ' and the fully connected layers fc<width> '-'-separated (either side none "
             "when empty), e.g. conv3x32s1-maxs2-conv5x64s2 | fc128")


class Layer(NamedTuple):
    """One feature layer; the fields its op does not use are None (a pool has no kernel or width,
    an identity nothing), so equal layers are equal values."""

    op: str  # conv, max, avg or id
    kernel: int | None = None
    width: int | None = None
    stride: int | None = None

    @property
    def token(self) -> str:
        if self.op == CONV:
            return f"conv{self.kernel}x{self.width}s{self.stride}"
        return IDENTITY if self.op == IDENTITY else f"{self.op}s{self.stride}"


class ChainArch(NamedTuple):
    """The network's feature layers in order (no identities), then its fully connected widths."""

    layers: tuple[Layer, ...]
    dense: tuple[int, ...]


def layer(op: str, kernel: int | None = None, width: int | None = None, stride: int | None = None) -> Layer:
    """A Layer with the fields its op does not use cleared (the normal form)."""
    if op == CONV:
        return Layer(op, kernel, width, stride)
    return Layer(op, None, None, stride) if op in POOLS else Layer(IDENTITY)


# --- text ------------------------------------------------------------------------------------------
def _malformed(text: str, problem: str) -> GenotypeError:
    return GenotypeError(f"Malformed chain architecture string {text!r}: {problem}; {FORM_HINT}.")


def parse_token(token: str) -> Layer:
    """The layer a token such as conv3x32s1, maxs2 or id names (not yet checked against a space)."""
    if token == IDENTITY:
        return Layer(IDENTITY)
    if match := _CONV.fullmatch(token):
        return Layer(CONV, int(match[1]), int(match[2]), int(match[3]))
    if match := _POOL.fullmatch(token):
        return Layer(match[1], None, None, int(match[2]))
    raise GenotypeError(f"{token!r} is not a chain layer")


def format(arch: ChainArch) -> str:  # noqa: A001 - the inverse of parse
    """The one-line form of a (checked) architecture."""
    dense = "-".join(f"fc{width}" for width in arch.dense) or NONE
    return ("-".join(layer.token for layer in arch.layers) or NONE) + " | " + dense


def parse(text: Any) -> ChainArch:
    """An architecture from its one-line form (not yet checked against a space's choices)."""
    if not isinstance(text, str):
        raise GenotypeError(f"A chain architecture string must be text, got {type(text).__name__}.")
    text = text.strip()
    features, sep, dense = text.partition("|")
    if not sep or "|" in dense:
        raise _malformed(text, "it needs exactly one '|' between the layers and the fully connected layers")
    layers = []
    for token in ([] if features.strip() == NONE else features.strip().split("-")):
        try:
            layers.append(parse_token(token.strip()))
        except GenotypeError:
            raise _malformed(text, f"{token.strip()!r} is not a layer") from None
    widths, dense = [], dense.strip()
    for token in ([] if dense == NONE else dense.split("-")):
        match = _DENSE.fullmatch(token.strip())
        if match is None:
            raise _malformed(text, f"{token.strip()!r} is not a fully connected layer (fc<width>) or none")
        widths.append(int(match[1]))
    return ChainArch(tuple(layers), tuple(widths))


# --- JSON ------------------------------------------------------------------------------------------
_FIELDS = {CONV: ("kernel", "width", "stride"), "max": ("stride",), "avg": ("stride",), IDENTITY: ()}


def to_json(arch: ChainArch) -> dict[str, list]:
    """{"layers": [{"op": "conv", "kernel": 3, "width": 32, "stride": 1}, {"op": "max", "stride": 2}, ...],
    "dense": [128, ...]} ({"op": "id"} layers are read too, and dropped)."""
    return {"layers": [{"op": lay.op, **{f: getattr(lay, f) for f in _FIELDS[lay.op]}} for lay in arch.layers],
            "dense": list(arch.dense)}


def from_json(obj: Any) -> ChainArch:
    """Inverse of to_json (not yet checked against a space's choices)."""
    if not isinstance(obj, dict) or set(obj) != {"layers", "dense"}:
        raise GenotypeError(f"A chain arch in JSON is an object with exactly the keys layers and dense, got {obj!r}.")
    layers, dense = obj["layers"], obj["dense"]
    if not isinstance(layers, list) or not isinstance(dense, list):
        raise GenotypeError(f"A chain arch's layers and dense must be lists, got {layers!r} and {dense!r}.")
    out = []
    for index, item in enumerate(layers, start=1):
        op = item.get("op") if isinstance(item, dict) else None
        if not isinstance(op, str) or op not in _FIELDS or set(item) != {"op", *_FIELDS[op]}:
            raise GenotypeError(
                f"Chain layer {index} {item!r} is not a layer: {{\"op\": \"conv\", \"kernel\": k, \"width\": w, "
                f"\"stride\": s}}, {{\"op\": \"max\" or \"avg\", \"stride\": s}} or {{\"op\": \"id\"}}.")
        out.append(Layer(op, item.get("kernel"), item.get("width"), item.get("stride")))
    return ChainArch(tuple(out), tuple(dense))
