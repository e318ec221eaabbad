"""The NAS-Bench-201 weight-sharing supernet: the benchmark's skeleton with a mixed edge per cell edge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from nascli.spaces.nb201.genotype import NUM_NODES, OP_NAMES, NB201Arch, validate
from nascli.spaces.ops import NB201_OPS, ResNetBasicBlock
from nascli.spaces.supernet import MixedEdge, SearchCell, Supernet, derive_argmax


class NB201Supernet(Supernet):
    """NAS-Bench-201's skeleton (stem, 3 stages of N cells joined by ResNet blocks, head) with a
    MixedEdge of the 5 ops on each of the 6 edges of every cell; all cells share one alpha."""

    cell_types = ("cell",)
    op_names = OP_NAMES
    num_inputs = 1
    steps = NUM_NODES - 1

    def __init__(self, num_classes: int, in_channels: int, channels: int, cells_per_stage: int, mode: str,
                 partial: int) -> None:
        super().__init__(mode)
        self.channels, self.cells_per_stage = channels, cells_per_stage
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
        return {"cell": [OP_NAMES.index(op) for op in validate(arch)]}

    def derive(self) -> NB201Arch:
        return derive_argmax(self.derivation_weights()["cell"], OP_NAMES)

    def gene_prior_logits(self, gene_log_probs: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Alpha rows matching independent per-gene op distributions: gene i is edge i's op."""
        return {"cell": torch.stack([torch.as_tensor(p, dtype=torch.float32) for p in gene_log_probs])}

    def cell_ops(self, arch: NB201Arch) -> dict[str, list[str]]:
        return {"cell": list(validate(arch))}

    def network_config(self) -> dict[str, Any]:
        return {"channels": self.channels, "cells_per_stage": self.cells_per_stage}

    def path_weights(self, arch: NB201Arch) -> dict[str, torch.Tensor]:
        """layers.<i> of the supernet are cells.<i> of NB201Network; a cell's edge e keeps only the
        weights of its chosen op (layers.<i>.edges.<e>.ops.<k>.* -> cells.<i>.edges.<e>.*)."""
        path = self.arch_paths(arch)["cell"]
        out = {}
        for key, value in self.state_dict().items():
            parts = key.split(".")
            if parts[0] != "layers":
                if not key.startswith(("alpha_", "beta_")):
                    out[key] = value  # stem, lastact, classifier: the same modules
                continue
            if not isinstance(self.layers[int(parts[1])], SearchCell):
                out[".".join(["cells", *parts[1:]])] = value  # a ResNet reduction block
            elif parts[2:5:2] == ["edges", "ops"] and path[int(parts[3])] == int(parts[5]):
                out[".".join(["cells", parts[1], "edges", parts[3], *parts[6:]])] = value
        return out
