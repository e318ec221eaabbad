"""The search-space contract: what every space offers to strategies, evaluators and commands.

A space knows its architectures (sample, mutate, encode, string form) and writes its network once,
as an outline with a site wherever an architecture picks an op (nascli.spaces.outline): built with
the picked ops it is an architecture's network, with mixed edges a supernet (nascli.weight_sharing),
with free stand-ins the skeleton a latency table times. It never knows who searches it or how a
candidate is scored. A space registers itself (`@SPACES.register("name")`, nascli.registry), which
also gives it its `name`; its YAML in conf/search_space/ holds its defaults.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

from nascli.errors import ConfigError

if TYPE_CHECKING:  # torch stays out of import time (`nas --help` must be fast)
    import torch
    from torch import nn

    from nascli.spaces.outline import CostUnit, Maker, SiteKey

Arch = Hashable  # a space's own immutable architecture value (tuple, namedtuple, ...)
Choice = tuple[str, int, str]  # (group, row, op): an op an architecture may choose, at a site of the outline


MAX_CHANNELS = 4096   # widest layer a space may be asked for: far beyond published networks, still buildable
MAX_DEPTH = 1000      # most cells, layers or blocks per stage


def check_sizes(space: str, **sizes: tuple[float, float]) -> None:
    """Refuse a network size above its bound (name=(value, most)), before building it: a genotype.json
    or override with channels=10**9 would otherwise exhaust memory or build for minutes."""
    for name, (value, most) in sizes.items():
        if value > most:
            raise ConfigError(f"{space} {name} must be at most {most:g}, got {value:g}: a network that size "
                              f"would not fit in memory (check the genotype's space_config or the override).")


class SearchSpace(ABC):
    """A set of architectures, encoded as a fixed-length vector of categorical genes."""

    name: str = ""  # set by @SPACES.register
    tokens: bool = False  # its networks take token ids (B, T) (nascli.data.text), not images (B, C, H, W)
    published: dict[str, Arch] = {}  # architectures published under a name (DARTS_V2, ...)
    needs_input: bool = False  # which architectures are valid depends on the input (see for_input)
    reads_tables: bool = False  # its networks take a table's feature vectors (nascli.data.tables); image spaces do not

    # --- genes: the representation every sample-based strategy works on -----------------
    @abstractmethod
    def cardinalities(self) -> list[int]:
        """Number of choices of each gene; gene i takes values in range(cardinalities()[i])."""

    @abstractmethod
    def encode(self, arch: Arch) -> list[int]:
        """The architecture as a gene vector."""

    @abstractmethod
    def decode(self, genes: Sequence[int]) -> Arch:
        """The architecture for a gene vector; raises GenotypeError if it is not valid."""

    def features(self, arch: Arch) -> list[int]:
        """A categorical vector for surrogate models (BO's Hamming kernel): the genes, unless the
        space knows a vector whose distances follow accuracy better (nb101: its cell's paths)."""
        return self.encode(arch)

    def validate(self, arch: Any) -> Arch:
        """`arch` as this space's own value, or a GenotypeError saying why it is not one."""
        return self.decode(self.encode(arch))

    def is_valid(self, genes: Sequence[int]) -> bool:
        """Whether a gene vector is an architecture of this space (spaces with constraints override)."""
        cards = self.cardinalities()
        return len(genes) == len(cards) and all(0 <= g < c for g, c in zip(genes, cards))

    def sample(self, rng: random.Random) -> Arch:
        """A uniformly random valid architecture."""
        cards = self.cardinalities()
        while True:
            genes = [rng.randrange(c) for c in cards]
            if self.is_valid(genes):
                return self.decode(genes)

    def mutate(self, arch: Arch, rng: random.Random) -> Arch:
        """A neighbour: exactly one gene changed to another valid value."""
        genes = self.encode(arch)
        cards = self.cardinalities()
        while True:
            i = rng.randrange(len(genes))
            if cards[i] < 2:
                continue
            new = list(genes)
            new[i] = rng.choice([v for v in range(cards[i]) if v != genes[i]])
            if self.is_valid(new):
                return self.decode(new)

    # --- text and JSON forms ---------------------------------------------------------------
    @abstractmethod
    def to_str(self, arch: Arch) -> str:
        """The space's canonical one-line form (parses back with from_str)."""

    @abstractmethod
    def from_str(self, text: str) -> Arch:
        """Parse the canonical form; raises GenotypeError with a clear message if malformed."""

    @abstractmethod
    def to_json(self, arch: Arch) -> Any:
        """A JSON-serialisable form for genotype.json's `arch`."""

    @abstractmethod
    def from_json(self, obj: Any) -> Arch:
        """Inverse of to_json; raises GenotypeError if malformed."""

    # --- networks: one outline, built with what each site should hold (nascli.spaces.outline) --------
    def outline(self, make: Maker, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        """This space's network with `make(site)` at every site: the discrete network with Picked,
        a supernet with mixed edges (nascli.weight_sharing), the skeleton with Free. A space whose
        networks have no fixed sites (nb101, chain) has none: it builds its networks itself."""
        raise ConfigError(f"The {self.name} space has no outline of sites: no weight-sharing supernet and no "
                          "per-op cost model (latency table). Use a sample-based strategy and a measured hardware target.")

    def groups(self) -> tuple[str, ...] | None:
        """The site groups a supernet of this space has, in order (None: as its outline meets them)."""
        return None

    def picks(self, arch: Arch) -> dict[SiteKey, str | None]:
        """The op `arch` runs at each site of the outline (None where the site is not part of it)."""
        raise ConfigError(f"The {self.name} space has no outline of sites.")

    def build_network(self, arch: Arch, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        """The discrete network of an architecture, sized by the space's own config."""
        from nascli.spaces.outline import Picked

        return self.outline(Picked(self.picks(arch)), num_classes, in_channels, input_size)

    def example_input(self, batch: int, in_channels: int, input_size: int) -> torch.Tensor:
        """An input its networks take, for shape checks, tracing and export: images (batch, C, H, W),
        or, for a space of token networks, token ids (batch, length) below `in_channels`."""
        import torch

        return torch.randn(batch, in_channels, input_size, input_size, generator=torch.Generator().manual_seed(0))

    def upgrade_state(self, state: dict[str, Any], arch: Arch) -> dict[str, Any]:
        """A network state_dict saved by an older nascli, in this version's names (a space whose
        modules moved says how; the others have nothing to change)."""
        return state

    def derive(self, weights: dict[str, list[list[float]]]) -> Arch:
        """The architecture a supernet's architecture weights (per group, rows x ops) describe."""
        raise ConfigError(f"The {self.name} space has no weight-sharing supernet; use a sample-based strategy.")

    def alpha_prior(self, gene_log_probs: Sequence[Any]) -> dict[str, Any]:
        """Architecture logits (per group, rows x ops) matching independent per-gene distributions
        (a meta prior's), so that a supernet starts where the prior points."""
        raise ConfigError(f"The {self.name} space cannot turn a gene prior into architecture weights.")

    # --- cost by the piece (latency tables) -------------------------------------------------
    def cost_config(self) -> dict[str, Any]:
        """The options that tag this space's skeleton in latency tables (config(), unless a space keeps
        an option added later out of it so older tables keep their keys)."""
        return self.config()

    def cost_units(self, num_classes: int, in_channels: int, input_size: int) -> list[CostUnit]:
        """Every piece of this space's networks at the input it sees: the skeleton, and every
        candidate of every site. An architecture's latency is the skeleton's plus its chosen ops'
        (`chosen`); a supernet's expected latency weights each choice."""
        from nascli.spaces.outline import cost_units

        return cost_units(self.name, {**self.cost_config(), "classes": num_classes},
                          lambda make: self.outline(make, num_classes, in_channels, input_size),
                          (in_channels, input_size, input_size), num_classes)

    def chosen(self, arch: Arch) -> set[Choice]:
        """The (group, row, op) choices `arch` makes, as cost_units places them."""
        return {(group, row, op) for (group, row), op in self.picks(arch).items() if op is not None}

    def smallest(self) -> Arch | None:
        """An architecture of least cost (fewest parameters, FLOPs and latency), if the space knows one."""
        return None

    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this space (stored with genotypes and checkpoints)."""
        return {}

    def for_input(self, num_classes: int, in_channels: int, input_size: int) -> SearchSpace:
        """This space for networks of that input shape. A space whose valid architectures depend on
        it (chain: strides that fit the input size) sets `needs_input` and returns a space that knows it."""
        return self

    def for_shape(self, shape: Sequence[Any]) -> SearchSpace:
        """This space for the data's shape (a DataShape; a table's also says which of its channels
        are category codes): for_input of its three numbers, unless a space needs more (mlp)."""
        return self.for_input(*shape[:3])

    # --- training hyper-parameters searched with the architecture (nascli.spaces.joint) -----------
    def hparam_choices(self) -> dict[str, list[Any]]:
        """The training hyper-parameters this space's candidates choose, with the values each may
        take (none for an architecture space)."""
        return {}

    def training(self, arch: Arch) -> dict[str, Any]:
        """The training hyper-parameters `arch` chose (trainer option -> value)."""
        return {}

    def split(self, arch: Arch) -> tuple[SearchSpace, Arch, dict[str, Any]]:
        """(the space whose network `arch` is, that network's architecture, its training hyper-parameters)."""
        return self, arch, {}
