"""Registries and config groups name the same things: every registered space, strategy, evaluator and
hardware target has a YAML of its name whose `_target_` is it, and every YAML's target is registered."""

from __future__ import annotations

import pytest
from hydra.utils import get_object

from nascli.errors import ConfigError
from nascli.registry import REGISTRIES, Registry
from nascli.runtime.config import load_option, options_in

ENTRIES = [(registry, name) for registry in REGISTRIES for name in registry.names()]


@pytest.mark.parametrize(("registry", "name"), ENTRIES, ids=[f"{r.group}:{n}" for r, n in ENTRIES])
def test_every_registered_entry_has_its_yaml(registry: Registry, name: str) -> None:
    assert name in options_in(registry.group), f"add conf/{registry.group}/{name}.yaml"
    assert get_object(load_option(registry.group, name)._target_) is registry.get(name)
    assert registry.get(name).name == name


OPTIONS = [(registry, option) for registry in REGISTRIES for option in options_in(registry.group)]


@pytest.mark.parametrize(("registry", "option"), OPTIONS, ids=[f"{r.group}={o}" for r, o in OPTIONS])
def test_every_yaml_builds_a_registered_entry_of_its_name(registry: Registry, option: str) -> None:
    target = get_object(load_option(registry.group, option)._target_)
    assert registry.get(option) is target, f"register {target.__qualname__} as {option!r} where it is defined"


def test_an_unknown_name_lists_the_known_ones() -> None:
    registry = REGISTRIES[1]
    with pytest.raises(ConfigError, match=f"Unknown strategy 'nope'; the known ones are: {', '.join(registry.names())}"):
        registry.get("nope")


def test_a_name_cannot_be_registered_twice() -> None:
    registry = Registry("thing", "nascli.strategies", "strategy")

    @registry.register("a")
    class First:
        pass

    with pytest.raises(ValueError, match="registered twice"):
        @registry.register("a")
        class Second:
            pass
