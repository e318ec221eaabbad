"""The NAS-Bench-201 cell space: one 4-node cell, 6 edges, 5 candidate ops (15,625 architectures).

Architectures are tuples of 6 op names in the benchmark's edge order; networks are the benchmark's
macro skeleton, so parameter counts match the NAS-Bench-201 tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from nascli.errors import ConfigError, GenotypeError
from nascli.spaces.base import SearchSpace
from nascli.spaces.ops import NB201_OPS, ResNetBasicBlock
from nascli.spaces.supernet import MixedEdge, SearchCell, Supernet, check_mode, derive_argmax

OP_NAMES: tuple[str, ...] = tuple(NB201_OPS)
# (to_node, from_node) of each edge, in the order of the benchmark's string and of our genes
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_NODES = 4

NB201Arch = tuple[str, ...]

_EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
_FORM_HINT = (
    f"a valid string has the form |op~0|+|op~0|op~1|+|op~0|op~1|op~2|, e.g. {_EXAMPLE}, "
    f"with each op one of: {', '.join(OP_NAMES)}"
)


def _malformed(text: str, problem: str) -> GenotypeError:
    """The error for a NAS-Bench-201 string that does not parse: what is wrong, and the valid form."""
    return GenotypeError(f"Malformed NAS-Bench-201 architecture string {text!r}: {problem}; {_FORM_HINT}.")


def _check_op(name: Any, where: str) -> str:
    """`name` if it is a NAS-Bench-201 op name, else a GenotypeError naming the valid ones."""
    if name not in OP_NAMES:
        valid = ", ".join(OP_NAMES)
        raise GenotypeError(f"Unknown NAS-Bench-201 op {name!r} at {where}; valid ops: {valid}.")
    return name


def _edges_of(to_node: int) -> list[tuple[int, int]]:
    """(edge index, from_node) of the edges into `to_node`, in string order."""
    return [(e, src) for e, (dst, src) in enumerate(EDGES) if dst == to_node]


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


def _validate(arch: Any) -> NB201Arch:
    """`arch` as a tuple of 6 NAS-Bench-201 op names, or a GenotypeError saying what is wrong."""
    if not isinstance(arch, (tuple, list)) or len(arch) != len(EDGES):
        raise GenotypeError(f"A NAS-Bench-201 arch is a sequence of {len(EDGES)} op names, got {arch!r}.")
    return tuple(_check_op(op, f"edge {i}") for i, op in enumerate(arch))


class NB201Cell(nn.Module):
    """A NAS-Bench-201 cell: node j sums its ops applied to nodes 0..j-1; node 3 is the output."""

    def __init__(self, arch: NB201Arch, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(NB201_OPS[op](channels, channels, 1, True) for op in arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for to_node in range(1, NUM_NODES):
            nodes.append(sum(self.edges[e](nodes[src]) for e, src in _edges_of(to_node)))
        return nodes[-1]


class NB201Network(nn.Module):
    """NAS-Bench-201's skeleton: stem, 3 stages of cells (C, 2C, 4C) joined by ResNet blocks, head."""

    def __init__(
        self, arch: NB201Arch, channels: int, cells_per_stage: int, num_classes: int, in_channels: int
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        )
        self.cells = nn.Sequential(*self._cells(arch, channels, cells_per_stage))
        last = 4 * channels
        self.lastact = nn.Sequential(nn.BatchNorm2d(last), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(last, num_classes)

    @staticmethod
    def _cells(arch: NB201Arch, channels: int, cells_per_stage: int) -> list[nn.Module]:
        cells: list[nn.Module] = []
        for stage in range(3):
            width = channels * 2**stage
            if stage > 0:
                cells.append(ResNetBasicBlock(width // 2, width, stride=2))
            cells.extend(NB201Cell(arch, width) for _ in range(cells_per_stage))
        return cells

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.lastact(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(self.global_pooling(features), 1))


class NB201Space(SearchSpace):
    """The NAS-Bench-201 space; genes are the op index of each of the 6 edges."""

    name = "nb201"

    def __init__(self, channels: int = 16, cells_per_stage: int = 5) -> None:
        if channels < 1 or cells_per_stage < 1:
            raise ConfigError(
                f"nb201 needs channels >= 1 and cells_per_stage >= 1, got {channels} and {cells_per_stage}."
            )
        self.channels = channels
        self.cells_per_stage = cells_per_stage

    def config(self) -> dict[str, Any]:
        return {"channels": self.channels, "cells_per_stage": self.cells_per_stage}

    def cardinalities(self) -> list[int]:
        return [len(OP_NAMES)] * len(EDGES)

    def encode(self, arch: NB201Arch) -> list[int]:
        return [OP_NAMES.index(op) for op in _validate(arch)]

    def decode(self, genes: Sequence[int]) -> NB201Arch:
        if not self.is_valid(genes):
            raise GenotypeError(
                f"Invalid NAS-Bench-201 genes {list(genes)}: "
                f"need {len(EDGES)} op indices in 0..{len(OP_NAMES) - 1}."
            )
        return tuple(OP_NAMES[g] for g in genes)

    def to_str(self, arch: NB201Arch) -> str:
        arch = _validate(arch)
        nodes = ("|".join(f"{arch[e]}~{src}" for e, src in _edges_of(n)) for n in range(1, NUM_NODES))
        return "+".join(f"|{node}|" for node in nodes)

    def from_str(self, text: str) -> NB201Arch:
        if not isinstance(text, str):
            raise GenotypeError(f"A NAS-Bench-201 arch string must be text, got {type(text).__name__}.")
        text = text.strip()
        groups = text.split("+")
        if len(groups) != NUM_NODES - 1:
            raise _malformed(text, f"need {NUM_NODES - 1} '+'-separated nodes, got {len(groups)}")
        return tuple(op for n, group in enumerate(groups, start=1) for op in _parse_node(group, n, text))

    def to_json(self, arch: NB201Arch) -> list[str]:
        return list(_validate(arch))

    def from_json(self, obj: Any) -> NB201Arch:
        if not isinstance(obj, list):
            raise GenotypeError(
                f"A NAS-Bench-201 arch in JSON is a list of {len(EDGES)} op names, got {type(obj).__name__}."
            )
        return _validate(obj)

    def build_network(
        self, arch: NB201Arch, num_classes: int, in_channels: int, input_size: int
    ) -> nn.Module:
        """The benchmark network for `arch`; any input_size >= 4 works (the head pools globally)."""
        if input_size < 4:
            raise ConfigError(f"nb201 networks need inputs of at least 4x4 pixels, got {input_size}.")
        return NB201Network(_validate(arch), self.channels, self.cells_per_stage, num_classes, in_channels)


    def build_supernet(
        self, num_classes: int, in_channels: int, input_size: int, mode: str = "darts",
        channels: int | None = None, layers: int | None = None, partial_channels: int = 4,
    ) -> Supernet:
        """The benchmark skeleton with a mixed edge on each of the 6 cell edges (modes: see
        nascli.spaces.supernet). `layers` counts cells including the 2 ResNet reduction blocks,
        3N + 2 as in DARTS' count (17: the benchmark's N=5; default: this space's size)."""
        channels = self.channels if channels is None else int(channels)
        per_stage = self.cells_per_stage if layers is None else (int(layers) - 2) // 3
        if layers is not None and (int(layers) - 2) % 3 or per_stage < 1 or min(channels, input_size) < 1:
            raise ConfigError(f"an nb201 supernet needs channels >= 1 and layers = 3N + 2 (5, 8, 11, 14, 17, ...), "
                              f"got channels {channels} and layers {layers}.")
        partial = int(partial_channels) if mode == "pcdarts" else 1
        if partial < 1 or channels % partial:
            raise ConfigError(f"pcdarts needs partial_channels (K={partial}) to divide channels ({channels}).")
        return NB201Supernet(self, num_classes, in_channels, channels, per_stage, check_mode(mode), partial)


class NB201Supernet(Supernet):
    """NAS-Bench-201's skeleton (stem, 3 stages of N cells joined by ResNet blocks, head) with a
    MixedEdge of the 5 ops on each of the 6 edges of every cell; all cells share one alpha."""

    cell_types = ("cell",)
    op_names = OP_NAMES
    num_inputs = 1
    steps = NUM_NODES - 1

    def __init__(self, space: NB201Space, num_classes: int, in_channels: int, channels: int,
                 cells_per_stage: int, mode: str, partial: int) -> None:
        super().__init__(mode)
        self.space = space
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        self.layers = nn.ModuleList()
        for stage in range(3):
            width = channels * 2**stage
            if stage > 0:
                self.layers.append(ResNetBasicBlock(width // 2, width, stride=2))
            for _ in range(cells_per_stage):
                self.layers.append(SearchCell(1, self.steps, lambda src, w=width: MixedEdge(NB201_OPS, w, 1, partial)))
        last = 4 * channels
        self.lastact = nn.Sequential(nn.BatchNorm2d(last), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(last, num_classes)
        self._init_arch()

    def _body(self, x: torch.Tensor, plans: dict[str, Any]) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.layers:
            x = layer([x], plans["cell"])[-1] if isinstance(layer, SearchCell) else layer(x)
        return self.classifier(torch.flatten(self.global_pooling(self.lastact(x)), 1))

    def arch_paths(self, arch: NB201Arch) -> dict[str, list[int | None]]:
        return {"cell": [OP_NAMES.index(op) for op in _validate(arch)]}

    def derive(self) -> NB201Arch:
        return derive_argmax(self.derivation_weights()["cell"], OP_NAMES)

    def gene_prior_logits(self, gene_log_probs: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Alpha rows matching independent per-gene op distributions: gene i is edge i's op."""
        return {"cell": torch.stack([torch.as_tensor(p, dtype=torch.float32) for p in gene_log_probs])}

    def cell_ops(self, arch: NB201Arch) -> dict[str, list[str]]:
        return {"cell": list(_validate(arch))}
