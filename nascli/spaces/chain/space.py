"""The layer-by-layer chain space of Zoph & Le's REINFORCE controller (ICLR 2017) and of
AutoKeras-style model building: up to `max_layers` feature layers, each a convolution (kernel,
width, stride), a pooling layer (max or average, with a stride) or an identity (the layer is
skipped), then up to `max_dense` fully connected layers, then the classifier.

Genes, layer by layer as the controller emits them: the layer's op, kernel, width and stride
(indices into the space's choices); then one per fully connected slot: none, or its width. An
architecture is its network: identities are dropped (the used layers come first in its genes, the
identity slots after them), and genes a layer does not use (a pool's kernel and width, an
identity's, a dense slot's after the first `none`) are index 0, so equal networks are one
architecture and one gene vector.

Which architectures are valid depends on the input size: a stride-2 layer halves the feature map
(rounding up), and one that would halve a 1x1 map is refused. `nas search` sets `input_size` from
the searched data (`for_input`); genotype.json records it, and `build_network` checks the actual one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from torch import nn

from nascli.errors import ConfigError, GenotypeError
from nascli.registry import SPACES
from nascli.spaces.base import MAX_CHANNELS, MAX_DEPTH, SearchSpace, check_sizes
from nascli.spaces.chain import genotype
from nascli.spaces.chain.genotype import CONV, IDENTITY, POOLS, ChainArch, Layer, layer
from nascli.spaces.chain.network import ChainNetwork, strided


def reductions(input_size: int) -> int:
    """How many stride-2 layers a map of `input_size` px takes before it is 1x1 (each rounds up)."""
    count = 0
    while input_size > 1:
        input_size, count = strided(input_size, 2), count + 1
    return count


@SPACES.register("chain")
class ChainSpace(SearchSpace):
    """Plain CNNs of a varying depth, built layer by layer (see the module docstring)."""

    needs_input = True

    def __init__(self, max_layers: int, kernels: list[int], widths: list[int], strides: list[int], pools: list[str],
                 pool_window: int, max_dense: int, dense_widths: list[int], dropout: float,
                 input_size: int | None) -> None:
        ints = {"max_layers": [max_layers], "kernels": kernels, "widths": widths, "strides": strides,
                "pool_window": [pool_window], "max_dense": [max_dense], "dense_widths": dense_widths}
        for name, values in ints.items():
            if isinstance(values, (str, bytes)) or not all(type(v) is int for v in values):
                raise ConfigError(f"chain {name} must be whole numbers, got {values!r}.")
        check_sizes("chain", max_layers=(max_layers, MAX_DEPTH), max_dense=(max_dense, MAX_DEPTH),
                    widths=(max(widths, default=1), MAX_CHANNELS), dense_widths=(max(dense_widths, default=1),
                                                                                  MAX_CHANNELS),
                    kernels=(max(kernels, default=1), 31), pool_window=(pool_window, 31))
        if max_layers < 1 or max_dense < 0:
            raise ConfigError(f"chain needs max_layers >= 1 and max_dense >= 0, got {max_layers} and {max_dense}.")
        for name, values, ok, what in (
                ("kernels", kernels, lambda k: k >= 1 and k % 2 == 1, "odd"),
                ("widths", widths, lambda w: w >= 1, "positive"),
                ("strides", strides, lambda s: s in (1, 2), "1 or 2")):
            if not values or len(set(values)) != len(values) or not all(map(ok, values)):
                raise ConfigError(f"chain {name} must be distinct, non-empty and {what}, got {list(values)}.")
        if len(set(dense_widths)) != len(dense_widths) or min(dense_widths, default=1) < 1:
            raise ConfigError(f"chain dense_widths must be distinct and positive, got {list(dense_widths)}.")
        if isinstance(pools, str) or len(set(pools)) != len(pools) or not set(pools) <= set(POOLS):
            raise ConfigError(f"chain pools must be distinct, each one of {', '.join(POOLS)}, got {pools!r}.")
        if pool_window < 1 or pool_window % 2 == 0:
            raise ConfigError(f"chain pool_window must be odd (padded to keep sizes), got {pool_window}.")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"chain dropout must be in [0, 1), got {dropout}.")
        if input_size is not None and (type(input_size) is not int or input_size < 1):
            raise ConfigError(f"chain input_size must be a positive whole number of pixels (or null), got {input_size!r}.")
        self.max_layers, self.max_dense = max_layers, max_dense
        self.kernels, self.widths, self.strides = list(kernels), list(widths), list(strides)
        self.pools, self.pool_window, self.dense_widths = list(pools), pool_window, list(dense_widths)
        self.dropout, self.input_size = float(dropout), input_size
        self.ops = [CONV, *self.pools, IDENTITY]

    def config(self) -> dict[str, Any]:
        return {"max_layers": self.max_layers, "kernels": list(self.kernels), "widths": list(self.widths),
                "strides": list(self.strides), "pools": list(self.pools), "pool_window": self.pool_window,
                "max_dense": self.max_dense, "dense_widths": list(self.dense_widths), "dropout": self.dropout,
                "input_size": self.input_size}

    def for_input(self, num_classes: int, in_channels: int, input_size: int) -> ChainSpace:
        """This space for `input_size` px inputs: which strides are valid depends on it."""
        return self if input_size == self.input_size else ChainSpace(**{**self.config(), "input_size": input_size})

    def hint(self) -> str:
        return (f"{self.max_layers} layers of ops {self.ops}, kernels {self.kernels}, widths {self.widths}, strides "
                f"{self.strides}; up to {self.max_dense} fully connected layers of widths {self.dense_widths}")

    # --- genes -----------------------------------------------------------------------------------
    def cardinalities(self) -> list[int]:
        per_layer = [len(self.ops), len(self.kernels), len(self.widths), len(self.strides)]
        return per_layer * self.max_layers + [1 + len(self.dense_widths)] * self.max_dense

    def is_valid(self, genes: Sequence[int]) -> bool:
        """In range, and no more stride-2 layers than the input size allows."""
        if not super().is_valid(genes):  # lengths and ranges: the base's check
            return False
        if self.input_size is None:
            return True
        strided_layers = sum(self._strides(genes[i:i + 4]) for i in range(0, 4 * self.max_layers, 4))
        return strided_layers <= reductions(self.input_size)

    def decode(self, genes: Sequence[int]) -> ChainArch:
        if not super().is_valid(genes):  # lengths and ranges: the base's check
            raise GenotypeError(f"Invalid chain genes {list(genes)}: need {len(self.cardinalities())} values, per layer "
                                f"op, kernel, width and stride indices, then per dense slot 0 (none) or 1 + a width "
                                f"index, each below {self.cardinalities()}.")
        layers = tuple(layer(self.ops[genes[i]], self.kernels[genes[i + 1]], self.widths[genes[i + 2]],
                             self.strides[genes[i + 3]]) for i in range(0, 4 * self.max_layers, 4)
                       if self.ops[genes[i]] != IDENTITY)
        dense = []
        for gene in genes[4 * self.max_layers:]:
            if gene == 0:  # the first `none` ends the fully connected layers
                break
            dense.append(self.dense_widths[gene - 1])
        return self._checked(ChainArch(layers, tuple(dense)))

    def encode(self, arch: ChainArch) -> list[int]:
        arch = self.validate(arch)
        genes = []
        for lay in arch.layers:
            genes += [self.ops.index(lay.op), 0 if lay.kernel is None else self.kernels.index(lay.kernel),
                      0 if lay.width is None else self.widths.index(lay.width),
                      0 if lay.stride is None else self.strides.index(lay.stride)]
        genes += [self.ops.index(IDENTITY), 0, 0, 0] * (self.max_layers - len(arch.layers))
        dense = [1 + self.dense_widths.index(w) for w in arch.dense]
        return genes + dense + [0] * (self.max_dense - len(dense))

    def sample(self, rng: random.Random) -> ChainArch:
        """The architecture of a uniformly random valid gene vector, drawn slot by slot without
        rejection (at 8 px only 3 in 10 gene vectors of 12 layers fit): a slot strides by 2 with
        the share of valid completions that do."""
        if self.input_size is None:
            return super().sample(rng)
        cards, budget = self.cardinalities(), reductions(self.input_size)
        strided = (len(self.ops) - 1) * len(self.kernels) * len(self.widths) * (2 in self.strides)
        plain = cards[0] * cards[1] * cards[2] * cards[3] - strided
        ways = [[1] * (budget + 1)]  # ways[-1 - j][r]: valid fillings of the last j slots with r stride-2 layers left
        for _ in range(self.max_layers):
            after = ways[-1]
            ways.append([plain * after[r] + (strided * after[r - 1] if r else 0) for r in range(budget + 1)])
        genes, left = [], budget
        for slot in range(self.max_layers):
            after = ways[self.max_layers - slot - 1]
            stride2 = left > 0 and rng.randrange(ways[self.max_layers - slot][left]) < strided * after[left - 1]
            while True:  # uniform among the slot's gene combinations of the drawn kind
                layer_genes = [rng.randrange(c) for c in cards[:4]]
                if self._strides(layer_genes) == stride2:
                    break
            genes += layer_genes
            left -= stride2
        return self.decode(genes + [rng.randrange(c) for c in cards[4 * self.max_layers:]])

    def _strides(self, layer_genes: Sequence[int]) -> bool:
        """Whether a slot's (op, kernel, width, stride) genes make a stride-2 layer."""
        return self.ops[layer_genes[0]] != IDENTITY and self.strides[layer_genes[3]] == 2

    def mutate(self, arch: ChainArch, rng: random.Random) -> ChainArch:
        """A neighbour: one gene of the normal form changed, to another valid normal form (so a
        different network): a layer's kernel, width, stride or op (to a pool once its kernel and
        width genes are 0); the last layer dropped (once its genes are 0) or one appended; the
        same for the fully connected layers."""
        genes = self.encode(arch)
        moves = [(i, value) for i in range(len(genes)) for value in self._moves(genes, i)]
        if not moves:
            raise ConfigError(f"The chain space ({self.hint()}) holds a single architecture: nothing to mutate to.")
        i, value = rng.choice(moves)
        return self.decode([*genes[:i], value, *genes[i + 1:]])

    def _moves(self, genes: list[int], i: int) -> list[int]:
        """The values gene i may change to, keeping `genes` (a valid normal form) valid and normal."""
        cards = self.cardinalities()
        if i >= 4 * self.max_layers:  # a dense slot: the used ones form a prefix
            slot, dense = i - 4 * self.max_layers, genes[4 * self.max_layers:]
            used = next((j for j, g in enumerate(dense) if g == 0), len(dense))
            if slot > used:
                return []
            last = slot == used - 1
            return [v for v in range(cards[i]) if v != genes[i] and (v != 0 or last)]
        start, field = i - i % 4, i % 4
        op, rest = self.ops[genes[start]], genes[start + 1:start + 4]
        used = next((j for j in range(self.max_layers) if self.ops[genes[4 * j]] == IDENTITY), self.max_layers)
        if start // 4 > used or (start // 4 == used and field != 0):
            return []  # identity slots after the first, and an identity's unused genes, stay as they are
        if field == 0:
            last = start // 4 == used - 1
            options = [v for v, new in enumerate(self.ops) if new != op and (
                new == CONV or (new == IDENTITY and last and not any(rest)) or (new in POOLS and not any(rest[:2])))]
        elif op == CONV or (field == 3 and op != IDENTITY):
            options = [v for v in range(cards[i]) if v != genes[i]]
        else:
            return []
        return [v for v in options if self.is_valid([*genes[:i], v, *genes[i + 1:]])]

    def smallest(self) -> ChainArch:
        """No feature layer and no fully connected layer: the classifier on the pooled input."""
        return ChainArch((), ())

    # --- checks ----------------------------------------------------------------------------------
    def validate(self, arch: Any) -> ChainArch:
        """`arch` in normal form (identities dropped, unused fields None), or a GenotypeError."""
        if not (isinstance(arch, (tuple, list)) and len(arch) == 2 and all(isinstance(p, (tuple, list)) for p in arch)):
            raise GenotypeError(f"A chain arch is (layers, dense widths), got {arch!r}; this space has {self.hint()}.")
        layers, dense = arch
        if len(layers) > self.max_layers:
            raise GenotypeError(f"The chain arch has {len(layers)} layer slots; this space has at most "
                                f"{self.max_layers} (search_space.max_layers).")
        if len(dense) > self.max_dense:
            raise GenotypeError(f"The chain arch has {len(dense)} fully connected layers; this space has at most "
                                f"{self.max_dense} (search_space.max_dense).")
        out = [self._layer(lay, i) for i, lay in enumerate(layers, start=1)]
        for width in dense:
            if type(width) is not int or width not in self.dense_widths:
                raise GenotypeError(f"Chain fully connected width {width!r} is not one of {self.dense_widths}.")
        return self._checked(ChainArch(tuple(lay for lay in out if lay.op != IDENTITY), tuple(dense)))

    def _layer(self, lay: Any, index: int) -> Layer:
        where = f"Chain layer {index}"
        if isinstance(lay, str):
            try:
                lay = genotype.parse_token(lay)
            except GenotypeError as exc:
                raise GenotypeError(f"{where}: {exc}; {genotype.FORM_HINT}.") from None
        if not isinstance(lay, (tuple, list)) or not 1 <= len(lay) <= 4:
            raise GenotypeError(f"{where}: {lay!r} is not a layer (op, kernel, width, stride).")
        op, kernel, width, stride = (*lay, None, None, None)[:4]
        if op not in self.ops:
            raise GenotypeError(f"{where}: op {op!r} is not one of this space's ops {self.ops}.")
        if op == CONV:
            for name, value, choices in (("kernel", kernel, self.kernels), ("width", width, self.widths)):
                if type(value) is not int or value not in choices:
                    raise GenotypeError(f"{where} ({op}): {name} {value!r} is not one of {choices}.")
        if op != IDENTITY and (type(stride) is not int or stride not in self.strides):
            raise GenotypeError(f"{where} ({op}): stride {stride!r} is not one of {self.strides}.")
        return layer(op, kernel, width, stride)

    def _checked(self, arch: ChainArch) -> ChainArch:
        """`arch`, when its strides fit this space's input size (if it knows one)."""
        if self.input_size is not None:
            fits(arch, self.input_size)
        return arch

    # --- text and JSON ---------------------------------------------------------------------------
    def to_str(self, arch: ChainArch) -> str:
        return genotype.format(self.validate(arch))

    def from_str(self, text: str) -> ChainArch:
        arch = genotype.parse(text)
        try:
            return self.validate(arch)
        except GenotypeError as exc:
            raise GenotypeError(f"Chain architecture {text.strip()!r}: {exc}") from None

    def to_json(self, arch: ChainArch) -> dict[str, list]:
        return genotype.to_json(self.validate(arch))

    def from_json(self, obj: Any) -> ChainArch:
        return self.validate(genotype.from_json(obj))

    # --- networks --------------------------------------------------------------------------------
    def build_network(self, arch: ChainArch, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        """The network of `arch`, whose strides must fit `input_size` (the data it will see)."""
        arch = self.validate(arch)
        if input_size < 1:
            raise ConfigError(f"chain networks need a positive input size, got {input_size}.")
        fits(arch, input_size, self.input_size)
        return ChainNetwork(arch, num_classes, in_channels, self.pool_window, self.dropout)


def fits(arch: ChainArch, input_size: int, searched: int | None = None) -> None:
    """A GenotypeError when a stride-2 layer of `arch` meets a 1x1 map at `input_size` px inputs."""
    size, used = input_size, [lay for lay in arch.layers if lay.op != IDENTITY and lay.stride == 2]
    for index, lay in enumerate(arch.layers, start=1):
        if lay.op == IDENTITY or lay.stride is None:
            continue
        if size == 1 and lay.stride > 1:
            found = f" (it was found for {searched} px inputs)" if searched and searched != input_size else ""
            raise GenotypeError(
                f"Chain layer {index} ({lay.token}) would stride a 1x1 feature map: at {input_size} px inputs at most "
                f"{reductions(input_size)} layers may have stride 2, and this architecture has {len(used)}{found}. "
                f"Use inputs of at least {2 ** (len(used) - 1) + 1} px, or an architecture with fewer strided layers.")
        size = strided(size, lay.stride)
