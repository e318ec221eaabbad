"""The DARTS cell space (Liu et al., ICLR 2019): a normal and a reduction cell, each of `steps` nodes
that take two distinct earlier states through one of 7 ops; networks are the paper's NetworkCIFAR.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from nascli.errors import ConfigError, GenotypeError
from nascli.spaces.base import SearchSpace
from nascli.spaces.ops import DARTS_OPS, FactorizedReduce, Identity, ReLUConvBN
from nascli.spaces.supernet import MixedEdge, SearchCell, Supernet, check_mode, derive_darts_cell, edge_offsets

GENOTYPE_OPS: tuple[str, ...] = tuple(op for op in DARTS_OPS if op != "none")
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


# --- parsing ---------------------------------------------------------------------------------
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


# --- networks ----------------------------------------------------------------------------------
def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability `drop_prob`, rescaling the rest (DARTS' regulariser)."""
    keep = 1.0 - drop_prob
    mask = x.new_empty(x.shape[0], 1, 1, 1).bernoulli_(keep)
    return x / keep * mask


class DartsCell(nn.Module):
    """One cell of NetworkCIFAR: preprocess both inputs to C channels, then each node sums two ops."""

    def __init__(
        self, genotype: Genotype, reduction: bool, reduction_prev: bool, c_prev_prev: int, c_prev: int, c: int
    ) -> None:
        super().__init__()
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, c)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0)
        cell = genotype.reduce if reduction else genotype.normal
        # in a reduction cell, the edges that read the two cell inputs stride
        self.ops = nn.ModuleList(
            DARTS_OPS[op](c, c, 2 if reduction and src < 2 else 1, True) for op, src in cell
        )
        self.indices = [src for _, src in cell]
        self.concat = list(genotype.reduce_concat if reduction else genotype.normal_concat)
        self.out_channels = len(self.concat) * c

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for first in range(0, len(self.ops), 2):
            states.append(self._edge(first, states, drop_prob) + self._edge(first + 1, states, drop_prob))
        return torch.cat([states[i] for i in self.concat], dim=1)

    def _edge(self, k: int, states: list[torch.Tensor], drop_prob: float) -> torch.Tensor:
        op = self.ops[k]
        out = op(states[self.indices[k]])
        if self.training and drop_prob > 0.0 and not isinstance(op, Identity):
            out = drop_path(out, drop_prob)
        return out


class AuxiliaryHead(nn.Module):
    """The paper's CIFAR auxiliary classifier; pools to 2x2 adaptively where AvgPool(5, 3) cannot."""

    def __init__(self, channels: int, num_classes: int, spatial: int) -> None:
        super().__init__()
        paper_pool_fits = 8 <= spatial <= 10  # AvgPool(5, stride 3) gives the 2x2 the last conv expects
        pool: nn.Module = (
            nn.AvgPool2d(5, stride=3, count_include_pad=False) if paper_pool_fits else nn.AdaptiveAvgPool2d(2)
        )
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            pool,
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class DartsNetwork(nn.Module):
    """NetworkCIFAR: stem, `layers` cells (reductions at 1/3 and 2/3 depth), optional auxiliary head.

    In training mode with an auxiliary head, forward returns (logits, aux_logits); otherwise logits.
    `drop_path_prob` may be changed between epochs by a trainer.
    """

    def __init__(
        self, genotype: Genotype, channels: int, layers: int, num_classes: int, in_channels: int,
        input_size: int, auxiliary: bool, drop_path_prob: float, stem_multiplier: int,
    ) -> None:
        super().__init__()
        self.drop_path_prob = drop_path_prob
        c_stem = stem_multiplier * channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem)
        )
        reductions = {layers // 3, 2 * layers // 3}
        self.aux_index = 2 * layers // 3
        self.cells = nn.ModuleList()
        c_prev_prev, c_prev, c, spatial = c_stem, c_stem, channels, input_size
        for i in range(layers):
            if i in reductions:
                c, spatial = 2 * c, (spatial + 1) // 2
            cell = DartsCell(genotype, i in reductions, i - 1 in reductions, c_prev_prev, c_prev, c)
            self.cells.append(cell)
            c_prev_prev, c_prev = c_prev, cell.out_channels
            if i == self.aux_index:
                aux_channels, aux_spatial = c_prev, spatial
        self.auxiliary_head = AuxiliaryHead(aux_channels, num_classes, aux_spatial) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        s0 = s1 = self.stem(x)
        aux_logits = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_index and self.auxiliary_head is not None and self.training:
                aux_logits = self.auxiliary_head(s1)
        logits = self.classifier(torch.flatten(self.global_pooling(s1), 1))
        return logits if aux_logits is None else (logits, aux_logits)


# --- the space -----------------------------------------------------------------------------------
class DartsSpace(SearchSpace):
    """The DARTS space; genes per cell and node: [op_a, input_a, op_b, input_b], inputs distinct."""

    name = "darts"

    def __init__(
        self,
        channels: int = 16,
        layers: int = 8,
        auxiliary: bool = False,
        drop_path: float = 0.0,
        steps: int = 4,
        multiplier: int = 4,
        stem_multiplier: int = 3,
    ) -> None:
        if min(channels, layers, steps, stem_multiplier) < 1 or not 1 <= multiplier <= steps:
            raise ConfigError(
                "darts needs channels, layers, steps, stem_multiplier >= 1 and 1 <= multiplier <= steps, "
                f"got {channels}, {layers}, {steps}, {stem_multiplier} and multiplier {multiplier}."
            )
        if not 0.0 <= drop_path < 1.0:
            raise ConfigError(f"darts drop_path must be in [0, 1), got {drop_path}.")
        self.channels = channels
        self.layers = layers
        self.auxiliary = auxiliary
        self.drop_path = drop_path
        self.steps = steps
        self.multiplier = multiplier
        self.stem_multiplier = stem_multiplier
        self.concat: tuple[int, ...] = tuple(range(2 + steps - multiplier, 2 + steps))

    def config(self) -> dict[str, Any]:
        return {
            "channels": self.channels,
            "layers": self.layers,
            "auxiliary": self.auxiliary,
            "drop_path": self.drop_path,
            "steps": self.steps,
            "multiplier": self.multiplier,
            "stem_multiplier": self.stem_multiplier,
        }

    # --- genes -----------------------------------------------------------------------------------
    def cardinalities(self) -> list[int]:
        ops = len(GENOTYPE_OPS)
        return [c for _ in CELLS for node in range(self.steps) for c in (ops, node + 2, ops, node + 2)]

    def is_valid(self, genes: Sequence[int]) -> bool:
        """In range, and the two inputs of every node distinct."""
        return super().is_valid(genes) and all(genes[k + 1] != genes[k + 3] for k in range(0, len(genes), 4))

    def encode(self, arch: Genotype) -> list[int]:
        arch = self._validate(arch)
        pairs = arch.normal + arch.reduce
        return [gene for op, src in pairs for gene in (GENOTYPE_OPS.index(op), src)]

    def decode(self, genes: Sequence[int]) -> Genotype:
        if not self.is_valid(genes):
            raise GenotypeError(
                f"Invalid DARTS genes {list(genes)}: need {len(self.cardinalities())} values, per node "
                f"[op_a, input_a, op_b, input_b] with ops in 0..{len(GENOTYPE_OPS) - 1} "
                "and two distinct inputs among the earlier states."
            )
        pairs = [(GENOTYPE_OPS[genes[k]], genes[k + 1]) for k in range(0, len(genes), 2)]
        half = 2 * self.steps
        return Genotype(tuple(pairs[:half]), self.concat, tuple(pairs[half:]), self.concat)

    # --- text and JSON ---------------------------------------------------------------------------
    def to_str(self, arch: Genotype) -> str:
        arch = self._validate(arch)
        return (
            f"Genotype(normal={_format_cell(arch.normal)}, normal_concat={list(arch.normal_concat)}, "
            f"reduce={_format_cell(arch.reduce)}, reduce_concat={list(arch.reduce_concat)})"
        )

    def from_str(self, text: str) -> Genotype:
        if not isinstance(text, str):
            raise GenotypeError(f"A DARTS genotype string must be text, got {type(text).__name__}.")
        return self._validate(Genotype(**_parse_fields(text)))

    def to_json(self, arch: Genotype) -> dict[str, list]:
        arch = self._validate(arch)
        return {
            "normal": [list(pair) for pair in arch.normal],
            "normal_concat": list(arch.normal_concat),
            "reduce": [list(pair) for pair in arch.reduce],
            "reduce_concat": list(arch.reduce_concat),
        }

    def from_json(self, obj: Any) -> Genotype:
        if not isinstance(obj, dict) or set(obj) != set(Genotype._fields):
            raise GenotypeError(
                f"A DARTS arch in JSON is an object with exactly the keys "
                f"{', '.join(Genotype._fields)}, got {obj!r}."
            )
        return self._validate(Genotype(**obj))

    # --- validation ------------------------------------------------------------------------------
    def _validate(self, arch: Any) -> Genotype:
        """`arch` as a Genotype of tuples that belongs to this space, or a GenotypeError saying why not."""
        if not isinstance(arch, tuple) or len(arch) != len(Genotype._fields):
            raise GenotypeError(
                f"A DARTS arch is a Genotype(normal, normal_concat, reduce, reduce_concat), got {arch!r}."
            )
        normal, normal_concat, reduce, reduce_concat = arch
        return Genotype(
            self._check_cell(normal, "normal"),
            self._check_concat(normal_concat, "normal_concat"),
            self._check_cell(reduce, "reduce"),
            self._check_concat(reduce_concat, "reduce_concat"),
        )

    def _check_cell(self, cell: Any, field: str) -> Cell:
        if not isinstance(cell, (list, tuple)) or len(cell) != 2 * self.steps:
            raise GenotypeError(
                f"DARTS genotype `{field}` must list {2 * self.steps} (op, input) pairs, got {cell!r}."
            )
        pairs = tuple(self._check_pair(pair, k // 2, field) for k, pair in enumerate(cell))
        for node in range(self.steps):
            if pairs[2 * node][1] == pairs[2 * node + 1][1]:
                raise GenotypeError(
                    f"DARTS genotype `{field}`: node {node} takes input {pairs[2 * node][1]} twice; "
                    "its two inputs must be distinct."
                )
        return pairs

    @staticmethod
    def _check_pair(pair: Any, node: int, field: str) -> tuple[str, int]:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and type(pair[1]) is int):
            raise GenotypeError(f"DARTS genotype `{field}`: {pair!r} is not an (op_name, input_index) pair.")
        op, src = pair
        if op not in GENOTYPE_OPS:
            raise GenotypeError(
                f"DARTS genotype `{field}`: unknown op {op!r} at node {node}; "
                f"allowed: {', '.join(GENOTYPE_OPS)}."
            )
        if not 0 <= src < node + 2:
            raise GenotypeError(
                f"DARTS genotype `{field}`: node {node} cannot take input {src}; "
                f"it may use states 0..{node + 1}."
            )
        return (op, src)

    def _check_concat(self, concat: Any, field: str) -> tuple[int, ...]:
        valid = isinstance(concat, (list, tuple, range)) and len(concat) == len(self.concat)
        if not valid or tuple(concat) != self.concat:
            raise GenotypeError(
                f"DARTS genotype `{field}` must be {list(self.concat)} in this space "
                f"(steps={self.steps}, multiplier={self.multiplier}), got {concat!r}."
            )
        return self.concat

    # --- networks --------------------------------------------------------------------------------
    def build_network(self, arch: Genotype, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        """NetworkCIFAR for `arch`, sized by this space's channels, layers and auxiliary settings."""
        if input_size < 1:
            raise ConfigError(f"darts networks need a positive input size, got {input_size}.")
        return DartsNetwork(
            self._validate(arch), self.channels, self.layers, num_classes, in_channels, input_size,
            self.auxiliary, self.drop_path, self.stem_multiplier,
        )


    def build_supernet(
        self, num_classes: int, in_channels: int, input_size: int, mode: str = "darts",
        channels: int | None = None, layers: int | None = None, partial_channels: int = 4,
    ) -> Supernet:
        """The weight-sharing search network (modes: see nascli.spaces.supernet), sized by `channels`
        and `layers` (default: this space's); `partial_channels` is PC-DARTS' K."""
        channels = self.channels if channels is None else int(channels)
        layers = self.layers if layers is None else int(layers)
        if min(channels, layers, input_size, partial_channels) < 1:
            raise ConfigError(f"a darts supernet needs positive channels, layers, input size and "
                              f"partial_channels, got {channels}, {layers}, {input_size} and {partial_channels}.")
        partial = int(partial_channels) if mode == "pcdarts" else 1
        if channels % partial:
            raise ConfigError(f"pcdarts needs partial_channels (K={partial}) to divide channels ({channels}).")
        return DartsSupernet(self, num_classes, in_channels, channels, layers, check_mode(mode), partial)


# --- weight-sharing supernet (the paper's model_search.py Network) ---------------------------------
class DartsSearchCell(nn.Module):
    """A search cell: both inputs preprocessed to C channels, 14 mixed edges, the last nodes concatenated."""

    def __init__(self, steps: int, multiplier: int, reduction: bool, reduction_prev: bool,
                 c_prev_prev: int, c_prev: int, c: int, partial: int) -> None:
        super().__init__()
        self.kind = "reduce" if reduction else "normal"
        self.multiplier = multiplier
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, c, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0, affine=False)
        self.cell = SearchCell(2, steps, lambda src: MixedEdge(
            DARTS_OPS, c, 2 if reduction and src < 2 else 1, partial, bn_after_pool=True))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, plan: Any) -> torch.Tensor:
        states = self.cell([self.preprocess0(s0), self.preprocess1(s1)], plan)
        return torch.cat(states[-self.multiplier:], dim=1)


class DartsSupernet(Supernet):
    """The DARTS search network: stem of 3C channels, `layers` search cells with reductions (and
    channel doubling) at 1/3 and 2/3 depth, global pooling and a linear classifier."""

    cell_types = CELLS
    op_names = tuple(DARTS_OPS)
    num_inputs = 2

    def __init__(self, space: DartsSpace, num_classes: int, in_channels: int, channels: int,
                 layers: int, mode: str, partial: int) -> None:
        super().__init__(mode)
        self.space, self.steps = space, space.steps
        c_stem = space.stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        reductions = {layers // 3, 2 * layers // 3}
        self.cells = nn.ModuleList()
        c_prev_prev, c_prev, c = c_stem, c_stem, channels
        for i in range(layers):
            c = 2 * c if i in reductions else c
            self.cells.append(DartsSearchCell(space.steps, space.multiplier, i in reductions,
                                              i - 1 in reductions, c_prev_prev, c_prev, c, partial))
            c_prev_prev, c_prev = c_prev, space.multiplier * c
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)
        self._init_arch()

    def _body(self, x: torch.Tensor, plans: dict[str, Any]) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, plans[cell.kind])
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))

    def arch_paths(self, arch: Genotype) -> dict[str, list[int | None]]:
        arch = self.space._validate(arch)
        offsets = edge_offsets(2, self.steps)
        paths = {}
        for cell, pairs in zip(CELLS, (arch.normal, arch.reduce)):
            path: list[int | None] = [None] * self.num_edges
            for k, (op, src) in enumerate(pairs):
                path[offsets[k // 2] + src] = self.op_names.index(op)
            paths[cell] = path
        return paths

    def derive(self) -> Genotype:
        weights = self.derivation_weights()
        normal, reduce = (derive_darts_cell(weights[c], self.op_names, self.steps) for c in CELLS)
        return self.space._validate(Genotype(normal, self.space.concat, reduce, self.space.concat))

    def gene_prior_logits(self, gene_log_probs: Sequence[torch.Tensor], floor: float = 1e-3) -> dict[str, torch.Tensor]:
        """Alpha rows matching independent per-gene distributions: each node picks two (op, input)
        pairs, so edge (input j -> node) gets op o with the expected count P(in_a=j) P(op_a=o) +
        P(in_b=j) P(op_b=o); `none` and unlikely ops get `floor` (log of, rows centred)."""
        probs = [torch.as_tensor(p, dtype=torch.float32).exp() for p in gene_log_probs]
        columns = [self.op_names.index(op) for op in GENOTYPE_OPS]
        logits, offsets, genes_per_cell = {}, edge_offsets(2, self.steps), 4 * self.steps
        for c, cell in enumerate(CELLS):
            mass = torch.zeros(self.num_edges, len(self.op_names))
            for node in range(self.steps):
                k = c * genes_per_cell + 4 * node
                for op_gene, input_gene in ((k, k + 1), (k + 2, k + 3)):
                    edges = slice(offsets[node], offsets[node] + node + 2)
                    mass[edges, columns] += probs[input_gene][:, None] * probs[op_gene][None, :]
            row_logits = torch.log(mass + floor)
            logits[cell] = row_logits - row_logits.mean(dim=1, keepdim=True)
        return logits

    def cell_ops(self, arch: Genotype) -> dict[str, list[str]]:
        arch = self.space._validate(arch)
        return {"normal": [op for op, _ in arch.normal], "reduce": [op for op, _ in arch.reduce]}
