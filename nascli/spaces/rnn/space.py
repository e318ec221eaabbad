"""The recurrent cell space of DARTS' and ENAS' language-model searches: `nodes` intermediate
nodes, each reading one earlier state through one of tanh, relu, sigmoid, identity; the cell's
output is the mean of its nodes. Networks embed token ids (nascli.data.text): a language model
(next-token logits, decoder tied to the embedding) or a text classifier (pooled states).

Genes, per node i: the state it reads (0..i-1), then its activation, the form of ENAS' controller
(one predecessor and one activation per node), which strategy=enas and strategy=reinforce sample.
A one-shot supernet mixes, at each node, every earlier state and every activation (DARTS' search
cell: a row of alpha per (node, state), `none` included).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nascli.errors import ConfigError, GenotypeError
from nascli.registry import SPACES
from nascli.spaces.base import MAX_CHANNELS, SearchSpace, check_sizes
from nascli.spaces.rnn import genotype
from nascli.spaces.rnn.genotype import ACTIVATIONS, OP_NAMES, PUBLISHED, RNNGenotype, full_concat
from nascli.spaces.rnn.outline import RNNNet, site_row

if TYPE_CHECKING:
    import torch
    from torch import nn

    from nascli.spaces.outline import CostUnit, Maker, SiteKey

HEADS = ("auto", "lm", "mean", "last")
MAX_NODES = 64


@SPACES.register("rnn")
class RNNSpace(SearchSpace):
    """The DARTS recurrent cell space and its AWD-LSTM-style network, sized by `nodes`, `emsize`, `nhid`."""

    published = PUBLISHED
    tokens = True  # its networks take token ids (B, T), not images

    def __init__(self, nodes: int, emsize: int, nhid: int, head: str, tie_weights: bool, dropout: float,
                 dropouth: float, dropoutx: float, dropouti: float, dropoute: float, ar: float, tar: float) -> None:
        if min(nodes, emsize, nhid) < 1:
            raise ConfigError(f"rnn needs nodes, emsize and nhid >= 1, got {nodes}, {emsize} and {nhid}.")
        check_sizes("rnn", nodes=(nodes, MAX_NODES), emsize=(emsize, MAX_CHANNELS), nhid=(nhid, MAX_CHANNELS))
        if head not in HEADS:
            raise ConfigError(f"search_space.head must be one of {', '.join(HEADS)}, got {head!r}.")
        for key, p in (("dropout", dropout), ("dropouth", dropouth), ("dropoutx", dropoutx),
                       ("dropouti", dropouti), ("dropoute", dropoute)):
            if not 0.0 <= p < 1.0:
                raise ConfigError(f"search_space.{key} must be in [0, 1), got {p}.")
        if ar < 0 or tar < 0:
            raise ConfigError(f"search_space.ar and search_space.tar must be at least 0, got {ar} and {tar}.")
        self.nodes, self.emsize, self.nhid, self.head, self.tie_weights = nodes, emsize, nhid, head, tie_weights
        self.dropout, self.dropouth, self.dropoutx, self.dropouti, self.dropoute = (
            dropout, dropouth, dropoutx, dropouti, dropoute)
        self.ar, self.tar = ar, tar

    def config(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "emsize": self.emsize, "nhid": self.nhid, "head": self.head,
                "tie_weights": self.tie_weights, "dropout": self.dropout, "dropouth": self.dropouth,
                "dropoutx": self.dropoutx, "dropouti": self.dropouti, "dropoute": self.dropoute,
                "ar": self.ar, "tar": self.tar}

    def smallest(self) -> RNNGenotype:
        return RNNGenotype(tuple(("identity", i - 1) for i in range(1, self.nodes + 1)), full_concat(self.nodes))

    # --- genes: (state read, activation) per node ---------------------------------------------------
    def cardinalities(self) -> list[int]:
        return [c for node in range(1, self.nodes + 1) for c in (node, len(ACTIVATIONS))]

    def encode(self, arch: Any) -> list[int]:
        arch = genotype.validate(arch)
        if len(arch.recurrent) != self.nodes or arch.concat != full_concat(self.nodes):
            raise GenotypeError(f"The rnn space with nodes={self.nodes} has cells of {self.nodes} nodes whose output "
                                f"is the mean of all of them; {genotype.to_str(arch)} is not one (a published cell "
                                f"of another size is retrained as it is, not searched).")
        return [g for op, pred in arch.recurrent for g in (pred, ACTIVATIONS.index(op))]

    def decode(self, genes: Sequence[int]) -> RNNGenotype:
        if not self.is_valid(genes):
            raise GenotypeError(f"Invalid rnn genes {list(genes)}: need {2 * self.nodes} genes, per node i the state "
                                f"read (0..i-1) and the activation (0..{len(ACTIVATIONS) - 1}).")
        pairs = tuple((ACTIVATIONS[genes[2 * i + 1]], int(genes[2 * i])) for i in range(self.nodes))
        return RNNGenotype(pairs, full_concat(self.nodes))

    def validate(self, arch: Any) -> RNNGenotype:
        """Any well-formed cell (the published ENAS cell has 11 nodes and its own concat)."""
        return genotype.validate(arch)

    # --- text and JSON -------------------------------------------------------------------------------
    def to_str(self, arch: RNNGenotype) -> str:
        return genotype.to_str(arch)

    def from_str(self, text: str) -> RNNGenotype:
        return genotype.from_str(text)

    def to_json(self, arch: RNNGenotype) -> dict[str, Any]:
        return genotype.to_json(arch)

    def from_json(self, obj: Any) -> RNNGenotype:
        return genotype.from_json(obj)

    # --- networks ------------------------------------------------------------------------------------
    def head_for(self, num_classes: int, vocab: int) -> str:
        """`auto`: a language model when the classes are the vocabulary (dataset=text_lm), else mean pooling."""
        if self.head != "auto":
            return self.head
        return "lm" if num_classes == vocab else "mean"

    def outline(self, make: Maker, num_classes: int, in_channels: int, input_size: int,
                concat: tuple[int, ...] | None = None) -> nn.Module:
        """The network over a vocabulary of `in_channels` tokens (sequences of `input_size`)."""
        head = self.head_for(num_classes, in_channels)
        if head == "lm" and num_classes != in_channels:
            raise ConfigError(f"search_space.head=lm predicts the next token: the data's classes must be its "
                              f"vocabulary ({in_channels} tokens), got {num_classes} classes; use dataset=text_lm.")
        if head == "lm" and self.tie_weights and self.emsize != self.nhid:
            raise ConfigError(f"search_space.tie_weights=true shares the embedding with the decoder, so emsize must "
                              f"equal nhid, got {self.emsize} and {self.nhid} (or set search_space.tie_weights=false).")
        return RNNNet(make, in_channels, num_classes, self.nodes, self.emsize, self.nhid,
                      concat or full_concat(self.nodes), head, self.tie_weights and head == "lm", self.dropout,
                      self.dropouth, self.dropoutx, self.dropouti, self.dropoute, self.ar, self.tar)

    def picks(self, arch: Any) -> dict[SiteKey, str | None]:
        arch = genotype.validate(arch)
        picks: dict[SiteKey, str | None] = {}
        for node, (op, pred) in enumerate(arch.recurrent, start=1):
            for j in range(node):
                picks[("cell", site_row(node, j))] = op if j == pred else None
        return picks

    def build_network(self, arch: Any, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        """The network of `arch`: a cell of its own node count and output states (ENAS' has 11 and 6)."""
        from nascli.spaces.outline import Picked

        arch = genotype.validate(arch)
        space = self if len(arch.recurrent) == self.nodes else type(self)(**{**self.config(), "nodes": len(arch.recurrent)})
        return space.outline(Picked(self.picks(arch)), num_classes, in_channels, input_size, arch.concat)

    def example_input(self, batch: int, in_channels: int, input_size: int) -> torch.Tensor:
        """Token ids (batch, input_size) below `in_channels`, none of them padding (0) when it can."""
        import torch

        low = 1 if in_channels > 1 else 0
        return torch.randint(low, in_channels, (batch, input_size), generator=torch.Generator().manual_seed(0))

    def derive(self, weights: dict[str, list[list[float]]]) -> RNNGenotype:
        """The reference code's rule: each node reads the state whose strongest activation (`none`
        aside) is strongest, through that activation."""
        rows = weights["cell"]
        pairs = []
        for node in range(1, self.nodes + 1):
            best = max(((rows[site_row(node, j)][k], -j, -k, j, k) for j in range(node) for k in range(1, len(OP_NAMES))))
            pairs.append((OP_NAMES[best[4]], best[3]))
        return RNNGenotype(tuple(pairs), full_concat(self.nodes))

    def alpha_prior(self, gene_log_probs: Sequence[Any]) -> dict[str, Any]:
        """Row (node i, state j), op a: log p(state j) + log p(a) of node i's genes; `none` far below."""
        import torch

        rows = []
        for node in range(1, self.nodes + 1):
            pred = torch.as_tensor(gene_log_probs[2 * (node - 1)], dtype=torch.float32)
            act = torch.as_tensor(gene_log_probs[2 * (node - 1) + 1], dtype=torch.float32)
            for j in range(node):
                rows.append(torch.cat([torch.tensor([-30.0]), pred[j] + act]))
        return {"cell": torch.stack(rows)}

    def cost_units(self, num_classes: int, in_channels: int, input_size: int) -> list[CostUnit]:
        raise ConfigError("The rnn space has no per-op cost model (latency table): its ops are activations inside "
                          "one recurrent step. Use hardware=none or a measured hardware target (cpu, cuda).")
