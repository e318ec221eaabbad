"""The mlp space: multilayer perceptrons for tables, the networks AutoKeras' structured-data block
and most tabular deep-learning baselines search (depth, per-layer width, activation, dropout,
batch or layer norm, residual connections, the embedding width of categorical columns).

Genes: the depth, one width per layer slot (those past the depth are inactive: encoded 0 and ignored),
then activation, norm, dropout, residual and embedding width. The network is written once
(nascli.spaces.mlp.outline), so sample-based strategies train its networks and SPOS/ENAS a
single-path supernet whose layers share elastic weights. `nas search` fits the space to the table
(`categories`: the number of codes of each categorical column the network embeds); images are
flattened into feature vectors (an MLP over pixels is a fair baseline on small images such as digits).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nascli.errors import ConfigError, GenotypeError
from nascli.registry import SPACES
from nascli.spaces.base import MAX_CHANNELS, SearchSpace, check_sizes
from nascli.spaces.mlp import genotype
from nascli.spaces.mlp.genotype import ACTIVATIONS, NORMS, MLPArch

if TYPE_CHECKING:
    from torch import nn

    from nascli.spaces.outline import CostUnit, Maker, SiteKey

MAX_LAYERS = 64


@SPACES.register("mlp")
class MLPSpace(SearchSpace):
    """Up to `max_depth` dense layers of `widths`, with the shared choices of every layer."""

    needs_input = True  # the embedded columns' numbers of codes come from the table
    reads_tables = True
    published = {
        # AutoKeras' DenseBlock at its defaults (num_layers 2, num_units 32, use_batchnorm false,
        # dropout 0; Dense -> ReLU); AutoKeras encodes categories as codes, here embedded at the smallest width
        "AUTOKERAS": MLPArch((32, 32), "relu", "none", 0.0, False, 4),
    }

    def __init__(self, max_depth: int, widths: list[int], activations: list[str], norms: list[str],
                 dropouts: list[float], residual: list[bool], embed_widths: list[int], categories: list[int]) -> None:
        def listed(key: str, values: Any, ok: Any, what: str) -> list[Any]:
            if not isinstance(values, (list, tuple)) or not values or len(set(values)) != len(values) or not all(map(ok, values)):
                raise ConfigError(f"search_space.{key} must be a non-empty list of distinct {what}, got {values!r}.")
            return list(values)

        if type(max_depth) is not int or not 1 <= max_depth <= MAX_LAYERS:
            raise ConfigError(f"search_space.max_depth must be a whole number from 1 to {MAX_LAYERS}, got {max_depth!r}.")
        self.max_depth = max_depth
        self.widths = listed("widths", widths, lambda w: type(w) is int and w >= 1, "positive whole numbers")
        check_sizes("mlp", widths=(max(self.widths), MAX_CHANNELS))
        self.activations = listed("activations", activations, lambda a: a in ACTIVATIONS, f"activations ({', '.join(ACTIVATIONS)})")
        self.norms = listed("norms", norms, lambda n: n in NORMS, f"norms ({', '.join(NORMS)})")
        self.dropouts = [float(d) for d in listed("dropouts", dropouts, lambda d: isinstance(d, (int, float)) and 0 <= d < 1,
                                                  "rates in [0, 1)")]
        self.residual = listed("residual", residual, lambda r: type(r) is bool, "true/false")
        self.embed_widths = listed("embed_widths", embed_widths, lambda e: type(e) is int and e >= 1, "positive whole numbers")
        check_sizes("mlp", embed_widths=(max(self.embed_widths), MAX_CHANNELS))
        if not isinstance(categories, (list, tuple)) or not all(type(c) is int and c >= 1 for c in categories):
            raise ConfigError(f"search_space.categories must list the number of codes of each embedded column, got {categories!r}.")
        check_sizes("mlp", categories=(max(categories, default=0), 10**7))
        self.categories = list(categories)

    def config(self) -> dict[str, Any]:
        return {"max_depth": self.max_depth, "widths": self.widths, "activations": self.activations, "norms": self.norms,
                "dropouts": self.dropouts, "residual": self.residual, "embed_widths": self.embed_widths,
                "categories": self.categories}

    def for_shape(self, shape: Any) -> MLPSpace:
        """This space for the data's rows: a table's embedded columns (none for images)."""
        categories = list(getattr(shape, "table", None) or [])
        return self if categories == self.categories else MLPSpace(**{**self.config(), "categories": categories})

    def smallest(self) -> MLPArch:
        return MLPArch((min(self.widths),), self.activations[0], "none" if "none" in self.norms else self.norms[0],
                       self.dropouts[0], False if False in self.residual else self.residual[0], min(self.embed_widths))

    # --- genes -----------------------------------------------------------------------------------
    def _choices(self) -> list[list[Any]]:
        return [self.activations, self.norms, self.dropouts, self.residual, self.embed_widths]

    def cardinalities(self) -> list[int]:
        return [self.max_depth, *[len(self.widths)] * self.max_depth, *(len(c) for c in self._choices())]

    def encode(self, arch: MLPArch) -> list[int]:
        arch = self._check(arch)
        widths = [self.widths.index(w) for w in arch.widths] + [0] * (self.max_depth - len(arch.widths))
        shared = [arch.activation, arch.norm, arch.dropout, arch.residual, arch.embed]
        return [len(arch.widths) - 1, *widths, *(c.index(v) for c, v in zip(self._choices(), shared))]

    def decode(self, genes: Sequence[int]) -> MLPArch:
        if not self.is_valid(genes):
            raise GenotypeError(f"Invalid mlp genes {list(genes)}: need {len(self.cardinalities())} indices below "
                                f"{self.cardinalities()}.")
        depth = genes[0] + 1
        act, norm, drop, res, emb = (c[g] for c, g in zip(self._choices(), genes[1 + self.max_depth:]))
        return MLPArch(tuple(self.widths[g] for g in genes[1:1 + depth]), act, norm, drop, res, emb)

    def _check(self, arch: Any) -> MLPArch:
        if not isinstance(arch, tuple) or len(arch) != len(MLPArch._fields):
            raise GenotypeError(f"Not an mlp architecture: {arch!r} ({genotype.FORM_HINT}).")
        arch = MLPArch(*arch)
        if not 1 <= len(arch.widths) <= self.max_depth:
            raise GenotypeError(f"mlp architecture {genotype.to_str(arch)} has {len(arch.widths)} layers; this space "
                                f"has 1 to {self.max_depth} (search_space.max_depth).")
        checks = [("widths", w, self.widths) for w in arch.widths] + list(zip(
            ("activations", "norms", "dropouts", "residual", "embed_widths"),
            (arch.activation, arch.norm, arch.dropout, arch.residual, arch.embed), self._choices()))
        for key, value, allowed in checks:
            if value not in allowed:
                raise GenotypeError(f"mlp architecture {genotype.to_str(arch)}: {value!r} is not one of search_space.{key} "
                                    f"{allowed}.")
        return arch

    def mutate(self, arch: MLPArch, rng: random.Random) -> MLPArch:
        """One active gene changed: the depth, a present layer's width, or a shared choice (the
        embedding width only where the data has embedded columns)."""
        genes, cards = self.encode(arch), self.cardinalities()
        active = [0, *range(1, 1 + len(arch.widths)), *range(1 + self.max_depth, len(cards) - 1)]
        if self.categories:
            active.append(len(cards) - 1)
        active = [i for i in active if cards[i] > 1] or [i for i, c in enumerate(cards) if c > 1]
        if not active:
            return arch
        i = rng.choice(active)
        genes[i] = rng.choice([v for v in range(cards[i]) if v != genes[i]])
        return self.decode(genes)

    # --- text and JSON ---------------------------------------------------------------------------
    def to_str(self, arch: MLPArch) -> str:
        return genotype.to_str(self._check(arch))

    def from_str(self, text: str) -> MLPArch:
        return self._check(genotype.from_str(text))

    def to_json(self, arch: MLPArch) -> dict[str, Any]:
        return genotype.to_json(self._check(arch))

    def from_json(self, obj: Any) -> MLPArch:
        return self._check(genotype.from_json(obj))

    # --- networks --------------------------------------------------------------------------------
    def outline(self, make: Maker, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        """The network for inputs of in_channels x input_size x input_size values, flattened."""
        from nascli.spaces.mlp.outline import MLPNet

        mixing = getattr(make, "mixing", None)  # a supernet's maker: its layers share weights one path at a time
        if mixing is not None and getattr(mixing, "name", None) != "single_path":
            raise ValueError("its layers share elastic weights one path at a time, so it is searched by sample-based "
                             "strategies and by strategy=spos or enas, not by gradient-based ones")
        features = in_channels * input_size * input_size
        if features <= len(self.categories):
            raise ConfigError(f"This mlp space embeds {len(self.categories)} categorical columns (search_space.categories, "
                              f"set from the searched table), but the inputs have {features} features: train it on "
                              f"the table it was searched on.")
        choices = {"activations": self.activations, "norms": self.norms, "dropouts": self.dropouts, "residual": self.residual}
        return MLPNet(make, num_classes, features, self.categories, self.widths, self.embed_widths, self.max_depth, choices)

    def picks(self, arch: MLPArch) -> dict[SiteKey, str]:
        from nascli.spaces.mlp.outline import SKIP, LayerOp

        arch = self._check(arch)
        picks: dict[SiteKey, str] = {("embed", 0): f"emb{arch.embed}", ("head", 0): f"in{arch.widths[-1]}"}
        source = f"emb{arch.embed}"  # the first layer reads the features with their embeddings
        for row in range(self.max_depth):
            if row >= len(arch.widths):
                picks[("layer", row)] = SKIP
                continue
            picks[("layer", row)] = LayerOp(source, arch.widths[row], arch.activation, arch.norm, arch.dropout,
                                            arch.residual).name
            source = str(arch.widths[row])
        return picks

    def cost_units(self, num_classes: int, in_channels: int, input_size: int) -> list[CostUnit]:
        raise ConfigError("The mlp space has no per-op cost model (latency table): its layers' costs depend on their "
                          "neighbours' widths. Use hardware=cpu or cuda (measured) or hardware=none.")

    def derive(self, weights: dict[str, list[list[float]]]) -> MLPArch:
        raise ConfigError("The mlp space is searched by sample-based strategies and by single-path one-shot ones "
                          "(strategy=spos, enas), not by gradient-based ones (darts, gdas, ...).")
