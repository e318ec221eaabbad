"""The DARTS cell space (Liu et al., ICLR 2019): a normal and a reduction cell, each of `steps` nodes
that take two distinct earlier states through one of 7 ops; networks are the paper's NetworkCIFAR.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nascli.errors import ConfigError, GenotypeError
from nascli.registry import SPACES
from nascli.spaces.base import MAX_CHANNELS, MAX_DEPTH, SearchSpace, check_sizes
from nascli.spaces.darts import genotype
from nascli.spaces.darts.genotype import CELLS, GENOTYPE_OPS, OP_NAMES, PUBLISHED, Genotype
from nascli.spaces.darts.outline import DartsNet, edge_offsets

if TYPE_CHECKING:
    from torch import nn

    from nascli.spaces.outline import Maker, SiteKey

STEMS = ("cifar", "imagenet")
_OLD_OP_KEY = re.compile(r"(?P<prefix>(?:network\.)?)cells\.(?P<cell>\d+)\.ops\.(?P<pair>\d+)\.(?P<rest>.+)")


@SPACES.register("darts")
class DartsSpace(SearchSpace):
    """The DARTS space; genes per cell and node: [op_a, input_a, op_b, input_b], inputs distinct."""

    published = PUBLISHED

    def __init__(self, channels: int, layers: int, auxiliary: bool, drop_path: float, steps: int,
                 multiplier: int, stem_multiplier: int, stem: str) -> None:
        if min(channels, layers, steps, stem_multiplier) < 1 or not 1 <= multiplier <= steps:
            raise ConfigError(
                "darts needs channels, layers, steps, stem_multiplier >= 1 and 1 <= multiplier <= steps, "
                f"got {channels}, {layers}, {steps}, {stem_multiplier} and multiplier {multiplier}."
            )
        check_sizes("darts", channels=(channels, MAX_CHANNELS), layers=(layers, MAX_DEPTH), steps=(steps, 16),
                    stem_multiplier=(stem_multiplier, 16))
        if stem not in STEMS:
            raise ConfigError(f"darts stem must be one of {', '.join(STEMS)} (imagenet: two stride-2 convs for 224 px "
                              f"inputs, as the paper's ImageNet network), got {stem!r}.")
        if not 0.0 <= drop_path < 1.0:
            raise ConfigError(f"darts drop_path must be in [0, 1), got {drop_path}.")
        self.channels, self.layers, self.auxiliary, self.drop_path = channels, layers, auxiliary, drop_path
        self.steps, self.multiplier, self.stem_multiplier, self.stem = steps, multiplier, stem_multiplier, stem
        self.concat: tuple[int, ...] = tuple(range(2 + steps - multiplier, 2 + steps))

    def config(self) -> dict[str, Any]:
        return {"channels": self.channels, "layers": self.layers, "auxiliary": self.auxiliary,
                "drop_path": self.drop_path, "steps": self.steps, "multiplier": self.multiplier,
                "stem_multiplier": self.stem_multiplier, "stem": self.stem}

    def cost_config(self) -> dict[str, Any]:
        """config() without the CIFAR stem, so latency tables built before the option keep their keys."""
        config = self.config()
        if config["stem"] == "cifar":
            del config["stem"]
        return config

    def smallest(self) -> Genotype:
        """Every node max-pools its two cell inputs: no weights, little work."""
        pairs = tuple(pair for _ in range(self.steps) for pair in (("max_pool_3x3", 0), ("max_pool_3x3", 1)))
        return Genotype(pairs, self.concat, pairs, self.concat)

    # --- genes -----------------------------------------------------------------------------------
    def cardinalities(self) -> list[int]:
        ops = len(GENOTYPE_OPS)
        return [c for _ in CELLS for node in range(self.steps) for c in (ops, node + 2, ops, node + 2)]

    def is_valid(self, genes: Sequence[int]) -> bool:
        """In range, and the two inputs of every node distinct."""
        return super().is_valid(genes) and all(genes[k + 1] != genes[k + 3] for k in range(0, len(genes), 4))

    def encode(self, arch: Genotype) -> list[int]:
        arch = self.validate(arch)
        return [gene for op, src in arch.normal + arch.reduce for gene in (GENOTYPE_OPS.index(op), src)]

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

    def validate(self, arch: Any) -> Genotype:
        return genotype.validate(arch, self.steps, self.concat)

    # --- text and JSON ---------------------------------------------------------------------------
    def to_str(self, arch: Genotype) -> str:
        return genotype.format(self.validate(arch))

    def from_str(self, text: str) -> Genotype:
        return self.validate(genotype.parse(text))

    def to_json(self, arch: Genotype) -> dict[str, list]:
        arch = self.validate(arch)
        return {"normal": [list(pair) for pair in arch.normal], "normal_concat": list(arch.normal_concat),
                "reduce": [list(pair) for pair in arch.reduce], "reduce_concat": list(arch.reduce_concat)}

    def from_json(self, obj: Any) -> Genotype:
        if not isinstance(obj, dict) or set(obj) != set(Genotype._fields):
            raise GenotypeError(
                f"A DARTS arch in JSON is an object with exactly the keys {', '.join(Genotype._fields)}, got {obj!r}."
            )
        return self.validate(Genotype(**obj))

    # --- networks --------------------------------------------------------------------------------
    def outline(self, make: Maker, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        """NetworkCIFAR sized by this space's channels and layers, with `make(site)` on every cell
        edge (the auxiliary head and drop path belong to a discrete network only)."""
        if input_size < 1:
            raise ConfigError(f"darts networks need a positive input size, got {input_size}.")
        return DartsNet(make, self.channels, self.layers, self.steps, self.multiplier, self.stem_multiplier,
                        num_classes, in_channels, input_size, self.auxiliary, self.drop_path, self.stem)

    def groups(self) -> tuple[str, ...]:
        return CELLS  # both cell types, even in a network too shallow to hold a normal cell

    def picks(self, arch: Genotype) -> dict[SiteKey, str]:
        """Each (op, input) pair of a node is that node's edge from the input; the other edges are unused."""
        arch, offsets = self.validate(arch), edge_offsets(self.steps)
        return {(cell, offsets[k // 2] + src): op
                for cell, pairs in zip(CELLS, (arch.normal, arch.reduce)) for k, (op, src) in enumerate(pairs)}

    def upgrade_state(self, state: dict[str, Any], arch: Genotype) -> dict[str, Any]:
        """Networks saved before the outline (issue 19) held a cell's ops as `ops.<pair>` in the
        genotype's pair order; they are `edges.<edge>` now, the edge each pair takes."""
        arch, offsets = self.validate(arch), edge_offsets(self.steps)
        reductions = {self.layers // 3, 2 * self.layers // 3}
        edges = {cell: [offsets[k // 2] + src for k, (_, src) in enumerate(pairs)]
                 for cell, pairs in zip(CELLS, (arch.normal, arch.reduce))}

        def renamed(key: str) -> str:
            match = _OLD_OP_KEY.match(key)
            if match is None:
                return key
            cell = "reduce" if int(match["cell"]) in reductions else "normal"
            return f"{match['prefix']}cells.{match['cell']}.edges.{edges[cell][int(match['pair'])]}.{match['rest']}"

        return {renamed(key): value for key, value in state.items()}

    def derive(self, weights: dict[str, list[list[float]]]) -> Genotype:
        """The DARTS paper's rule, per cell type: per node the 2 inputs whose strongest non-`none` op
        is strongest, each with that op; pairs ordered by strength (ties: the earlier input)."""
        normal, reduce = (_derive_cell(weights[cell], self.steps) for cell in CELLS)
        return self.validate(Genotype(normal, self.concat, reduce, self.concat))

    def alpha_prior(self, gene_log_probs: Sequence[Any], floor: float = 1e-3) -> dict[str, Any]:
        """Each node picks two (op, input) pairs, so edge (input j -> node) gets op o with the expected
        count P(in_a=j) P(op_a=o) + P(in_b=j) P(op_b=o); `none` and unlikely ops get `floor` (log of,
        rows centred)."""
        import torch

        probs = [torch.as_tensor(p, dtype=torch.float32).exp() for p in gene_log_probs]
        columns = [OP_NAMES.index(op) for op in GENOTYPE_OPS]
        offsets, genes_per_cell = edge_offsets(self.steps), 4 * self.steps
        edges = offsets[-1] + self.steps + 1
        logits = {}
        for c, cell in enumerate(CELLS):
            mass = torch.zeros(edges, len(OP_NAMES))
            for node in range(self.steps):
                k = c * genes_per_cell + 4 * node
                for op_gene, input_gene in ((k, k + 1), (k + 2, k + 3)):
                    rows = slice(offsets[node], offsets[node] + node + 2)
                    mass[rows, columns] += probs[input_gene][:, None] * probs[op_gene][None, :]
            row_logits = torch.log(mass + floor)
            logits[cell] = row_logits - row_logits.mean(dim=1, keepdim=True)
        return logits


def _derive_cell(weights: Sequence[Sequence[float]], steps: int) -> tuple[tuple[str, int], ...]:
    none = OP_NAMES.index("none")
    pairs: list[tuple[str, int]] = []
    for node, start in enumerate(edge_offsets(steps)):
        rows = [list(weights[start + src]) for src in range(2 + node)]
        best = [max((w, k) for k, w in enumerate(row) if k != none) for row in rows]
        chosen = sorted(range(len(rows)), key=lambda src: -best[src][0])[:2]
        pairs.extend((OP_NAMES[_strongest(rows[src], none)], src) for src in chosen)
    return tuple(pairs)


def _strongest(row: Sequence[float], skip: int) -> int:
    """Index of the largest value (the first among equals), ignoring index `skip`."""
    return max((k for k in range(len(row)) if k != skip), key=lambda k: (row[k], -k))
