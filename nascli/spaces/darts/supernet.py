"""The DARTS search network (the paper's model_search.py Network): mixed edges in every cell of a
normal/reduction stack, one alpha per cell type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from nascli.spaces.darts.genotype import CELLS, GENOTYPE_OPS, Genotype, validate
from nascli.spaces.ops import DARTS_OPS, FactorizedReduce, Pool, ReLUConvBN
from nascli.spaces.supernet import MixedEdge, SearchCell, Supernet, derive_darts_cell, edge_offsets


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

    def __init__(self, num_classes: int, in_channels: int, channels: int, layers: int, steps: int,
                 multiplier: int, stem_multiplier: int, mode: str, partial: int) -> None:
        super().__init__(mode)
        self.channels, self.layers = channels, layers
        self.steps, self.concat = steps, tuple(range(2 + steps - multiplier, 2 + steps))
        c_stem = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        reductions = {layers // 3, 2 * layers // 3}
        self.cells = nn.ModuleList()
        c_prev_prev, c_prev, c = c_stem, c_stem, channels
        for i in range(layers):
            c = 2 * c if i in reductions else c
            self.cells.append(DartsSearchCell(steps, multiplier, i in reductions,
                                              i - 1 in reductions, c_prev_prev, c_prev, c, partial))
            c_prev_prev, c_prev = c_prev, multiplier * c
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)
        self._init_arch()

    def _body(self, x: torch.Tensor, plans: dict[str, Any]) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, plans[cell.kind])
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))

    def arch_paths(self, arch: Genotype) -> dict[str, list[int | None]]:
        arch = validate(arch, self.steps, self.concat)
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
        return validate(Genotype(normal, self.concat, reduce, self.concat), self.steps, self.concat)

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
        arch = validate(arch, self.steps, self.concat)
        return {"normal": [op for op, _ in arch.normal], "reduce": [op for op, _ in arch.reduce]}

    def network_config(self) -> dict[str, Any]:
        return {"channels": self.channels, "layers": self.layers}

    def path_weights(self, arch: Genotype) -> dict[str, torch.Tensor]:
        """Stem, preprocessing and classifier by their names; the op of genotype pair j of a cell
        (node j // 2, input src) from that edge's candidate: cells.<i>.cell.edges.<e>.ops.<k>.* ->
        cells.<i>.ops.<j>.*. The search network's BatchNorm after a pooling op (affine-free, which
        DARTS' derived networks do not have) is left out, so on pooling edges the network differs
        from the supernet's path by that normalisation; every other op computes the same."""
        arch = validate(arch, self.steps, self.concat)
        offsets = edge_offsets(2, self.steps)
        slots = {cell: {(offsets[j // 2] + src, self.op_names.index(op)): j for j, (op, src) in enumerate(pairs)}
                 for cell, pairs in zip(CELLS, (arch.normal, arch.reduce))}
        out = {}
        for key, value in self.state_dict().items():
            parts = key.split(".")
            if key.startswith(("alpha_", "beta_")):
                continue
            if parts[0] != "cells" or parts[2] != "cell":
                out[key] = value  # stem, classifier, a cell's preprocess0/1: the same modules
                continue
            cell = self.cells[int(parts[1])]
            edge, k, rest = int(parts[4]), int(parts[6]), parts[7:]
            j = slots[cell.kind].get((edge, k))
            if j is None:
                continue
            op = cell.cell.edges[edge].ops[k]
            if isinstance(op, nn.Sequential) and isinstance(op[0], Pool):  # (pool, BN): the pool's own weights
                if rest[0] != "0":
                    continue
                rest = rest[1:]
            out[".".join(["cells", parts[1], "ops", str(j), *rest])] = value
        return out
