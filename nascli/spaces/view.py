"""A space seen through another: the base for spaces that wrap one (joint hyper-parameters, a
benchmark table's subset). Every method of the contract is the wrapped space's unless the view
overrides it, so a wrapper writes only what it changes."""

from __future__ import annotations

import random
from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nascli.spaces.base import Arch, Choice, SearchSpace

if TYPE_CHECKING:
    from torch import nn

    from nascli.spaces.outline import CostUnit, Maker, SiteKey


class SpaceView(SearchSpace):
    """`base`, with the methods a subclass overrides changed; the name, published architectures and
    input dependence are the base's."""

    def __init__(self, base: SearchSpace) -> None:
        self.base = base
        self.name, self.published, self.needs_input = base.name, base.published, base.needs_input
        self.reads_tables = base.reads_tables

    @abstractmethod
    def over(self, base: SearchSpace) -> SpaceView:
        """The same view over another base (what for_input returns)."""

    def for_input(self, num_classes: int, in_channels: int, input_size: int) -> SearchSpace:
        return self.over(self.base.for_input(num_classes, in_channels, input_size))

    def for_shape(self, shape: Any) -> SearchSpace:
        return self.over(self.base.for_shape(shape))

    # --- everything else is the base's ------------------------------------------------------------
    def cardinalities(self) -> list[int]:
        return self.base.cardinalities()

    def encode(self, arch: Arch) -> list[int]:
        return self.base.encode(arch)

    def decode(self, genes: Sequence[int]) -> Arch:
        return self.base.decode(genes)

    def features(self, arch: Arch) -> list[int]:
        return self.base.features(arch)

    def validate(self, arch: Any) -> Arch:
        return self.base.validate(arch)

    def is_valid(self, genes: Sequence[int]) -> bool:
        return self.base.is_valid(genes)

    def sample(self, rng: random.Random) -> Arch:
        return self.base.sample(rng)

    def mutate(self, arch: Arch, rng: random.Random) -> Arch:
        return self.base.mutate(arch, rng)

    def to_str(self, arch: Arch) -> str:
        return self.base.to_str(arch)

    def from_str(self, text: str) -> Arch:
        return self.base.from_str(text)

    def to_json(self, arch: Arch) -> Any:
        return self.base.to_json(arch)

    def from_json(self, obj: Any) -> Arch:
        return self.base.from_json(obj)

    def outline(self, make: Maker, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        return self.base.outline(make, num_classes, in_channels, input_size)

    def groups(self) -> tuple[str, ...] | None:
        return self.base.groups()

    def picks(self, arch: Arch) -> dict[SiteKey, str | None]:
        return self.base.picks(arch)

    def build_network(self, arch: Arch, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        return self.base.build_network(arch, num_classes, in_channels, input_size)

    def derive(self, weights: dict[str, list[list[float]]]) -> Arch:
        return self.base.derive(weights)

    def upgrade_state(self, state: dict[str, Any], arch: Arch) -> dict[str, Any]:
        return self.base.upgrade_state(state, arch)

    def alpha_prior(self, gene_log_probs: Sequence[Any]) -> dict[str, Any]:
        return self.base.alpha_prior(gene_log_probs)

    def cost_units(self, num_classes: int, in_channels: int, input_size: int) -> list[CostUnit]:
        return self.base.cost_units(num_classes, in_channels, input_size)

    def chosen(self, arch: Arch) -> set[Choice]:
        return self.base.chosen(arch)

    def smallest(self) -> Arch | None:
        return self.base.smallest()

    def config(self) -> dict[str, Any]:
        return self.base.config()

    def cost_config(self) -> dict[str, Any]:
        return self.base.cost_config()

    def hparam_choices(self) -> dict[str, list[Any]]:
        return self.base.hparam_choices()

    def training(self, arch: Arch) -> dict[str, Any]:
        return self.base.training(arch)

    def split(self, arch: Arch) -> tuple[SearchSpace, Arch, dict[str, Any]]:
        return self.base.split(arch)
