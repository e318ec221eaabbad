"""Lazy registries: one obvious place to add a space, strategy, evaluator or hardware target.

Entries are "module:Class" strings so that listing or looking up a name never imports torch.
Configs build the same classes through `hydra.utils.instantiate` (`_target_`); the registries
serve code that starts from a name alone (a genotype.json, a checkpoint, a published genotype).
"""

from __future__ import annotations

import importlib
from typing import Any

from nascli.errors import ConfigError

SPACES: dict[str, str] = {
    "nb201": "nascli.spaces.nb201:NB201Space",
    "darts": "nascli.spaces.darts:DartsSpace",
}


def resolve(registry: dict[str, str], kind: str, name: str) -> Any:
    """The class registered under `name`, or a ConfigError listing the known names."""
    if name not in registry:
        known = ", ".join(sorted(registry))
        raise ConfigError(f"Unknown {kind} '{name}'. Known {kind}s: {known}.")
    module, _, attr = registry[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def build_space(name: str, **kwargs: Any):
    """A search space by registry name, e.g. build_space("nb201", channels=16)."""
    return resolve(SPACES, "search space", name)(**kwargs)
