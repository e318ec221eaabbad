"""Registries: the one place a search space, strategy, evaluator or hardware target is named.

An implementation registers itself where it is defined,

    @STRATEGIES.register("evolution")
    class RegularizedEvolution(SampleStrategy): ...

and its YAML (conf/strategy/evolution.yaml) builds it through `_target_`; a test holds the two
together (every registered name has a YAML of that name whose `_target_` is the registered class).
A registry finds its entries by importing its package's modules the first time it is asked, so
nothing here is imported by `nas --help` or by Hydra's composition.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

from nascli.errors import ConfigError

T = TypeVar("T")


class Registry:
    """Names -> implementations of one kind (a space, a strategy, ...), filled by `register`."""

    def __init__(self, kind: str, package: str, group: str) -> None:
        self.kind = kind          # what people call an entry: "search space"
        self.package = package    # where entries are defined: "nascli.spaces"
        self.group = group        # the config group whose options they are: "search_space"
        self._entries: dict[str, Any] = {}
        self._discovered = False

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: file the class under `name` and give it that `name` attribute."""
        def add(obj: T) -> T:
            known = self._entries.get(name)
            if known is not None and known is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice: {known.__module__} and {obj.__module__}")
            self._entries[name] = obj
            obj.name = name  # type: ignore[attr-defined]
            return obj

        return add

    def _discover(self) -> None:
        """Import every module of the package once, so that every `register` call has run."""
        if self._discovered:
            return
        package = importlib.import_module(self.package)
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{self.package}."):
            importlib.import_module(module.name)
        self._discovered = True

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def get(self, name: str) -> Any:
        """The implementation registered under `name`, or a ConfigError listing the known names."""
        self._discover()
        if name not in self._entries:
            raise ConfigError(f"Unknown {self.kind} {name!r}; the known ones are: {', '.join(self.names())}.")
        return self._entries[name]

    def items(self) -> list[tuple[str, Any]]:
        return [(name, self._entries[name]) for name in self.names()]


SPACES = Registry("search space", "nascli.spaces", "search_space")
STRATEGIES = Registry("strategy", "nascli.strategies", "strategy")
EVALUATORS = Registry("evaluator", "nascli.evaluators", "evaluator")
HARDWARE = Registry("hardware target", "nascli.hardware", "hardware")

REGISTRIES: tuple[Registry, ...] = (SPACES, STRATEGIES, EVALUATORS, HARDWARE)
