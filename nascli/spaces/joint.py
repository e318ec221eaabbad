"""Joint architecture and hyper-parameter search (as AutoKeras does): training hyper-parameters as
extra categorical genes after a space's own, so every sample-based strategy searches them together.

    nas search search_space.hparams.lr=[0.01,0.05,0.1] search_space.hparams.batch_size=[32,64]

An architecture of the joint space is (the base space's architecture, the chosen values). Its
networks, costs and genotype are the base space's; the values are what the candidate is trained
with (`training(arch)`), and genotype.json records them under "hparams" for `nas retrain`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nascli.errors import ConfigError, GenotypeError
from nascli.runtime.config import build, plain
from nascli.spaces.base import Arch, Choice, SearchSpace
from nascli.spaces.view import SpaceView

SEPARATOR = " @ "  # between the base architecture's string and the hyper-parameters', in arch_str


def build_space(node: DictConfig) -> SearchSpace:
    """The search_space group's space, joined with the hyper-parameters `search_space.hparams` gives
    lists of values for (those left null are not searched)."""
    values = plain(node)
    hparams = {k: v for k, v in (values.pop("hparams", None) or {}).items() if v is not None}
    space = build(OmegaConf.create(values), "search_space")
    return JointSpace(space, hparams) if hparams else space


class JointSpace(SpaceView):
    """`base` with one more gene per hyper-parameter: the index of its value in the given list. Its
    architectures are (the base's architecture, the values); what is not about the values is the
    base's, for the base part."""

    def __init__(self, base: SearchSpace, hparams: Mapping[str, Sequence[Any]]) -> None:
        for key, choices in hparams.items():
            if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence) or not choices:
                raise ConfigError(f"search_space.hparams.{key} must be a list of values to search, e.g. "
                                  f"search_space.hparams.{key}=[0.01,0.05,0.1]; got {choices!r}.")
            if len(set(map(json.dumps, choices))) != len(choices):
                raise ConfigError(f"search_space.hparams.{key} lists a value twice: {list(choices)}.")
        super().__init__(base)
        self.published = {}
        self.hparams = {key: list(choices) for key, choices in hparams.items()}
        self._base_genes = len(base.cardinalities())

    def over(self, base: SearchSpace) -> JointSpace:
        return JointSpace(base, self.hparams)

    # --- the parts ---------------------------------------------------------------------------
    def split(self, arch: Arch) -> tuple[SearchSpace, Arch, dict[str, Any]]:
        return self.base, arch[0], self.training(arch)

    def training(self, arch: Arch) -> dict[str, Any]:
        return dict(zip(self.hparams, arch[1]))

    def hparam_choices(self) -> dict[str, list[Any]]:
        return {key: list(choices) for key, choices in self.hparams.items()}

    # --- genes -------------------------------------------------------------------------------
    def cardinalities(self) -> list[int]:
        return [*self.base.cardinalities(), *(len(v) for v in self.hparams.values())]

    def encode(self, arch: Arch) -> list[int]:
        base, values = arch
        return [*self.base.encode(base), *(self._index(k, v) for k, v in zip(self.hparams, values))]

    def features(self, arch: Arch) -> list[int]:
        base, values = arch
        return [*self.base.features(base), *(self._index(k, v) for k, v in zip(self.hparams, values))]

    def decode(self, genes: Sequence[int]) -> Arch:
        if not self.is_valid(genes):
            raise GenotypeError(f"Genes {list(genes)} are not a candidate of the joint {self.name} space.")
        base, picks = genes[:self._base_genes], genes[self._base_genes:]
        return self.base.decode(base), tuple(choices[i] for choices, i in zip(self.hparams.values(), picks))

    def is_valid(self, genes: Sequence[int]) -> bool:
        picks = genes[self._base_genes:]
        return (len(picks) == len(self.hparams) and self.base.is_valid(genes[:self._base_genes])
                and all(0 <= i < len(c) for i, c in zip(picks, self.hparams.values())))

    def sample(self, rng: random.Random) -> Arch:
        return self.base.sample(rng), tuple(rng.choice(choices) for choices in self.hparams.values())

    def mutate(self, arch: Arch, rng: random.Random) -> Arch:
        """One gene changed: a hyper-parameter's (in proportion to their share of the genes), else the base's."""
        movable = [k for k, c in self.hparams.items() if len(c) > 1]
        if movable and rng.randrange(self._base_genes + len(movable)) < len(movable):
            key = rng.choice(movable)
            values = dict(self.training(arch))
            values[key] = rng.choice([v for v in self.hparams[key] if v != values[key]])
            return arch[0], tuple(values.values())
        return self.base.mutate(arch[0], rng), arch[1]

    def validate(self, arch: Any) -> Arch:
        return self.decode(self.encode(arch))

    def _index(self, key: str, value: Any) -> int:
        for i, choice in enumerate(self.hparams[key]):
            if choice == value and type(choice) is type(value):
                return i
        raise GenotypeError(f"{key}={value!r} is not one of search_space.hparams.{key}: {self.hparams[key]}.")

    # --- text and JSON -------------------------------------------------------------------------
    def to_str(self, arch: Arch) -> str:
        values = ",".join(f"{k}={json.dumps(v)}" for k, v in self.training(arch).items())
        return f"{self.base.to_str(arch[0])}{SEPARATOR}{values}"

    def from_str(self, text: str) -> Arch:
        base, sep, values = text.rpartition(SEPARATOR)
        if not sep:
            raise GenotypeError(f"{text!r} names no hyper-parameters (expected '<architecture>{SEPARATOR}"
                                f"{','.join(f'{k}=<value>' for k in self.hparams)}').")
        try:
            parsed = dict((k, json.loads(v)) for k, v in (item.split("=", 1) for item in values.split(",")))
        except ValueError:
            raise GenotypeError(f"{values!r} is not a list of hyper-parameters key=value,...") from None
        return self._joined(self.base.from_str(base), parsed)

    def to_json(self, arch: Arch) -> Any:
        return {"arch": self.base.to_json(arch[0]), "hparams": self.training(arch)}

    def from_json(self, obj: Any) -> Arch:
        if not isinstance(obj, dict) or not isinstance(obj.get("hparams"), dict):
            raise GenotypeError("A joint candidate is {\"arch\": ..., \"hparams\": {...}}.")
        return self._joined(self.base.from_json(obj.get("arch")), obj["hparams"])

    def _joined(self, base: Arch, values: Mapping[str, Any]) -> Arch:
        if set(values) != set(self.hparams):
            raise GenotypeError(f"The hyper-parameters are {', '.join(self.hparams)}; got {', '.join(values)}.")
        return self.validate((base, tuple(values[k] for k in self.hparams)))

    # --- networks and cost: the base space's, for the base part -----------------------------------
    def picks(self, arch: Arch) -> dict[Any, str | None]:
        return self.base.picks(arch[0])

    def build_network(self, arch: Arch, num_classes: int, in_channels: int, input_size: int):
        return self.base.build_network(arch[0], num_classes, in_channels, input_size)

    def chosen(self, arch: Arch) -> set[Choice]:
        return self.base.chosen(arch[0])

    def derive(self, weights: dict[str, list[list[float]]]) -> Arch:
        raise ConfigError("search_space.hparams are searched by training each candidate: a one-shot strategy's "
                          "supernet cannot search them. Use a sample-based strategy (random, evolution, bo, sh, ...).")

    def smallest(self) -> Arch | None:
        base = self.base.smallest()
        return None if base is None else (base, tuple(c[0] for c in self.hparams.values()))
