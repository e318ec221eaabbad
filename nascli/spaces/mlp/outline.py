"""The mlp network, written once: categorical codes embedded, then dense layers, then the classifier,
with a site wherever an architecture picks: the embedding width, each layer slot, the classifier's input.

A layer slot's op is the whole layer, `<in>><out>:<activation>:<norm>:<dropout>:<res|nores>`
(`skip` past the network's depth), so that a discrete network's modules and a supernet path's
slices of the shared weights have the same shapes (nascli.weight_sharing.inherit). In a supernet
every slot holds one elastic layer of the widest widths; a narrower layer runs on its first rows and
columns (once-for-all's elastic width). Inputs of any shape are flattened: a table's row (N, F, 1, 1)
is its F features, an image its pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from nascli.spaces.outline import Maker, Site

SKIP = "skip"
ACT = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu}


class LayerOp(NamedTuple):
    source: str  # the input: the previous layer's width, or `emb<e>` (the features with e-wide embeddings)
    c_out: int
    activation: str
    norm: str
    dropout: float
    residual: bool

    @property
    def name(self) -> str:
        return f"{self.source}>{self.c_out}:{self.activation}:{self.norm}:{self.dropout:g}:{'res' if self.residual else 'nores'}"


class Parsed(NamedTuple):
    c_in: int
    c_out: int
    activation: str
    norm: str
    dropout: float
    residual: bool


def parse_layer(op: str, stems: dict[str, int]) -> Parsed:
    """A layer op's sizes and choices; `stems` gives the width of each `emb<e>` input."""
    sizes, act, norm, drop, res = op.split(":")
    source, c_out = sizes.split(">")
    return Parsed(stems[source] if source in stems else int(source), int(c_out), act, norm, float(drop), res == "res")


def _batch_norm(x: torch.Tensor, bn: nn.BatchNorm1d, width: int) -> torch.Tensor:
    """bn on the first `width` features (its slice of the statistics); a batch of one row in
    training uses the running statistics (batch statistics of one row are undefined)."""
    training = bn.training and x.shape[0] > 1
    factor = 0.0
    if training:
        bn.num_batches_tracked.add_(1)
        factor = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
    return F.batch_norm(x, bn.running_mean[:width], bn.running_var[:width], bn.weight[:width], bn.bias[:width],
                        training, factor, bn.eps)


class Dense(nn.Module):
    """One layer: Linear -> norm -> activation -> dropout (AutoKeras' dense block order), plus its
    input (projected where the widths differ) when residual."""

    def __init__(self, op: Parsed) -> None:
        super().__init__()
        self.op = op
        self.linear = nn.Linear(op.c_in, op.c_out)
        if op.norm == "batch":
            self.norm = nn.BatchNorm1d(op.c_out)
        elif op.norm == "layer":
            self.norm = nn.LayerNorm(op.c_out)
        if op.residual and op.c_in != op.c_out:
            self.project = nn.Linear(op.c_in, op.c_out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)
        if self.op.norm == "batch":
            out = _batch_norm(out, self.norm, self.op.c_out)
        elif self.op.norm == "layer":
            out = self.norm(out)
        out = F.dropout(ACT[self.op.activation](out), self.op.dropout, self.training)
        if self.op.residual:
            out = out + (self.project(x) if self.op.c_in != self.op.c_out else x)
        return out


class ElasticDense(nn.Module):
    """Every layer op of a slot on one set of weights of the widest input and output: op
    `<in>><out>...` runs on their first `out` rows and `in` columns (the same function as Dense
    with those weights: candidate_state)."""

    def __init__(self, ops: Sequence[str], stems: dict[str, int]) -> None:
        super().__init__()
        self.parsed = {op: parse_layer(op, stems) for op in ops if op != SKIP}  # a plain dict: no module, no state
        c_in = max(p.c_in for p in self.parsed.values())
        c_out = max(p.c_out for p in self.parsed.values())
        self.linear = nn.Linear(c_in, c_out)
        self.batch_norm, self.layer_norm = nn.BatchNorm1d(c_out), nn.LayerNorm(c_out)
        self.project = nn.Linear(c_in, c_out, bias=False)

    def run(self, x: torch.Tensor, op: str) -> torch.Tensor:
        if op == SKIP:
            return x
        p = self.parsed[op]
        out = F.linear(x, self.linear.weight[: p.c_out, : p.c_in], self.linear.bias[: p.c_out])
        if p.norm == "batch":
            out = _batch_norm(out, self.batch_norm, p.c_out)
        elif p.norm == "layer":
            out = F.layer_norm(out, (p.c_out,), self.layer_norm.weight[: p.c_out], self.layer_norm.bias[: p.c_out],
                               self.layer_norm.eps)
        out = F.dropout(ACT[p.activation](out), p.dropout, self.training)
        if p.residual:
            out = out + (F.linear(x, self.project.weight[: p.c_out, : p.c_in]) if p.c_in != p.c_out else x)
        return out

    def mixture(self, x: torch.Tensor, ops: Sequence[str], weights: Sequence[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError("mlp layer slots mix one path at a time (strategy=spos or enas)")

    def candidate_state(self, op: str) -> dict[str, torch.Tensor]:
        if op == SKIP:
            return {}
        p = self.parsed[op]
        state = {"linear.weight": self.linear.weight[: p.c_out, : p.c_in], "linear.bias": self.linear.bias[: p.c_out]}
        if p.norm == "batch":
            bn = self.batch_norm
            state.update({"norm.weight": bn.weight[: p.c_out], "norm.bias": bn.bias[: p.c_out],
                          "norm.running_mean": bn.running_mean[: p.c_out], "norm.running_var": bn.running_var[: p.c_out],
                          "norm.num_batches_tracked": bn.num_batches_tracked})
        elif p.norm == "layer":
            state.update({"norm.weight": self.layer_norm.weight[: p.c_out], "norm.bias": self.layer_norm.bias[: p.c_out]})
        if p.residual and p.c_in != p.c_out:
            state["project.weight"] = self.project.weight[: p.c_out, : p.c_in]
        return {k: v.detach().clone() for k, v in state.items()}


class Embed(nn.Module):
    """The numeric features, then each categorical code embedded in `width` dimensions (a code out
    of range, as random inputs give, is clamped to the nearest code)."""

    def __init__(self, numeric: int, categories: Sequence[int], width: int) -> None:
        super().__init__()
        self.numeric, self.categories, self.width = numeric, tuple(categories), width
        self.tables = nn.ModuleList(nn.Embedding(c, width) for c in self.categories)

    def codes(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x[:, self.numeric + j].round().long().clamp(0, c - 1) for j, c in enumerate(self.categories)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[:, : self.numeric], *(t(c) for t, c in zip(self.tables, self.codes(x)))], dim=1)


class ElasticEmbed(Embed):
    """Every embedding width of the site on tables of the widest: width e reads their first e columns."""

    def __init__(self, numeric: int, categories: Sequence[int], widths: dict[str, int]) -> None:
        super().__init__(numeric, categories, max(widths.values()))
        self.widths = widths

    def run(self, x: torch.Tensor, op: str) -> torch.Tensor:
        e = self.widths[op]
        return torch.cat([x[:, : self.numeric], *(t(c)[:, :e] for t, c in zip(self.tables, self.codes(x)))], dim=1)

    def mixture(self, x: torch.Tensor, ops: Sequence[str], weights: Sequence[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError("mlp embeddings mix one path at a time (strategy=spos or enas)")

    def candidate_state(self, op: str) -> dict[str, torch.Tensor]:
        e = self.widths[op]
        return {f"tables.{j}.weight": t.weight[:, :e].detach().clone() for j, t in enumerate(self.tables)}


class ElasticHead(nn.Module):
    """The classifier for every input width of its site: `in<w>` reads the first w columns."""

    def __init__(self, widths: dict[str, int], num_classes: int) -> None:
        super().__init__()
        self.widths = widths
        self.linear = nn.Linear(max(widths.values()), num_classes)

    def run(self, x: torch.Tensor, op: str) -> torch.Tensor:
        return F.linear(x, self.linear.weight[:, : self.widths[op]], self.linear.bias)

    def mixture(self, x: torch.Tensor, ops: Sequence[str], weights: Sequence[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError("the mlp classifier mixes one path at a time (strategy=spos or enas)")

    def candidate_state(self, op: str) -> dict[str, torch.Tensor]:
        w = self.widths[op]
        return {"weight": self.linear.weight[:, :w].detach().clone(), "bias": self.linear.bias.detach().clone()}


def layer_ops(inputs: Sequence[str], widths: Sequence[int], choices: dict[str, Sequence[Any]], skip: bool) -> tuple[str, ...]:
    ops = [LayerOp(i, o, a, n, float(d), r).name for i in inputs for o in widths for a in choices["activations"]
           for n in choices["norms"] for d in choices["dropouts"] for r in choices["residual"]]
    return (*ops, SKIP) if skip else tuple(ops)


class MLPNet(nn.Module):
    """Flatten, embed, `max_depth` layer slots, classifier; what each site holds is `make`'s."""

    def __init__(self, make: Maker, num_classes: int, in_features: int, categories: Sequence[int],
                 widths: Sequence[int], embed_widths: Sequence[int], max_depth: int, choices: dict[str, Sequence[Any]]) -> None:
        super().__init__()
        numeric = in_features - len(categories)
        embeds = {f"emb{e}": e for e in embed_widths}
        stems = {name: numeric + len(categories) * e for name, e in embeds.items()}  # the first layer's input widths
        heads = {f"in{w}": w for w in widths}
        rows = [layer_ops(list(stems) if row == 0 else [str(w) for w in widths], widths, choices, skip=row > 0)
                for row in range(max_depth)]
        # a supernet has one list of ops for every site: each site masks the ops of the others
        ops = tuple(dict.fromkeys([*embeds, *(op for row in rows for op in row), *heads]))

        def site(group: str, row: int, own: Sequence[str], build: Any, c_in: int, c_out: int, shared: Any) -> Site:
            return Site(group, row, ops, build, c_in, c_out, 1, label=f"{group}{row}", masked=frozenset(ops) - set(own),
                        shared=shared)

        self.embed = make(site("embed", 0, list(embeds), self._embed_builder(numeric, categories), in_features,
                               max(stems.values()), lambda: ElasticEmbed(numeric, categories, embeds)))

        def build(op: str, channels: int, affine: bool) -> nn.Module | None:
            return None if op == SKIP else Dense(parse_layer(op, stems))

        self.layers = nn.ModuleList(
            make(site("layer", row, own, build, max(stems.values()) if row == 0 else max(widths), max(widths),
                      lambda own=own: ElasticDense(own, stems)))
            for row, own in enumerate(rows))
        self.head = make(site("head", 0, list(heads), lambda op, channels, affine: nn.Linear(heads[op], num_classes),
                              max(widths), num_classes, lambda: ElasticHead(heads, num_classes)))

    @staticmethod
    def _embed_builder(numeric: int, categories: Sequence[int]) -> Any:
        def build(op: str, channels: int, affine: bool) -> nn.Module | None:
            return Embed(numeric, categories, int(op.removeprefix("emb"))) if categories else None
        return build

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for module in (self.embed, *self.layers):
            if module is not None:
                out = module(x)
                x = x if out is None else out
        return self.head(x)

