"""Building from config: a target's typed signature is its schema; options are checked by name and
type before anything is built, and every mistake names the key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest
from omegaconf import OmegaConf

from nascli.errors import ConfigError
from nascli.runtime.config import build, build_option, chosen_options, check_value, load_option, options_of


@dataclass
class Inner:
    size: int
    flag: bool


class Base:
    def __init__(self, space: object, rate: float, names: list[str], mode: Literal["a", "b"]) -> None:
        self.space, self.rate, self.names, self.mode = space, rate, names, mode


class Child(Base):
    def __init__(self, space: object, extra: int | None, inner: Inner, **options: object) -> None:
        super().__init__(space, **options)
        self.extra, self.inner = extra, inner


def node(**options: object):
    return OmegaConf.create({"_target_": f"{__name__}.Child", **options})


GOOD = {"rate": 1, "names": ["x"], "mode": "a", "extra": None, "inner": {"size": 2.0, "flag": True}}


def test_build_checks_names_and_types_and_passes_runtime_objects_untouched() -> None:
    space = object()
    built = build(node(**GOOD), "thing", space=space)
    assert built.space is space and built.rate == 1.0 and isinstance(built.rate, float)  # ints are numbers
    assert built.inner == Inner(2, True) and built.names == ["x"] and built.extra is None  # 2.0 is an integer


def test_options_follow_kwargs_up_to_the_base_class() -> None:
    assert set(options_of(Child)) == {"space", "extra", "inner", "rate", "names", "mode"}


@pytest.mark.parametrize(("change", "message"), [
    ({"rat": 1.0}, "thing has no option 'rat' \\(did you mean 'rate'\\?\\). Its options are: extra, inner, mode, names, rate"),
    ({"rate": "fast"}, "thing.rate must be a number, got 'fast'"),
    ({"mode": "c"}, "thing.mode must be one of 'a', 'b', got 'c'"),
    ({"extra": 1.5}, "thing.extra must be an integer or null, got 1.5"),
    ({"names": "x"}, "thing.names must be a list"),
    ({"inner": {"size": 1, "flag": "yes"}}, "thing.inner.flag must be true or false"),
    ({"inner": {"size": 1, "flag": True, "colour": 1}}, "thing.inner has no option 'colour'"),
])
def test_every_mistake_names_the_key(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(node(**{**GOOD, **change}), "thing", space=None)


def test_a_missing_option_and_an_unimportable_target_are_config_errors() -> None:
    options = dict(GOOD)
    options.pop("rate")
    with pytest.raises(ConfigError, match="thing needs the option\\(s\\) rate"):
        build(node(**options), "thing", space=None)
    with pytest.raises(ConfigError, match="cannot be imported"):
        build(OmegaConf.create({"_target_": "nascli.nowhere.Nothing"}), "thing")
    with pytest.raises(ConfigError, match="names no _target_"):
        build(OmegaConf.create({"rate": 1}), "thing")


def test_check_value_converts_only_what_is_safe() -> None:
    assert check_value(3.0, int, "k") == 3 and check_value(200, str, "k") == "200"
    assert check_value([0.5, 1], tuple[float, float], "k") == (0.5, 1.0)
    with pytest.raises(ConfigError, match="k must be an integer"):
        check_value(True, int, "k")  # a flag is not a count


def test_options_by_name_use_the_shipped_yaml_and_its_inheritance() -> None:
    assert load_option("strategy", "gdas").arch_optimizer == load_option("strategy", "darts").arch_optimizer
    assert load_option("trainer", "gdas_search").momentum == load_option("trainer", "darts_search").momentum
    assert chosen_options("strategy", "gdas") == {"budget": "schedule", "trainer": "gdas_search"}  # its own, not darts'
    space = build_option("search_space", "nb201", {"channels": 4})
    assert space.config() == {"channels": 4, "cells_per_stage": 5}
    with pytest.raises(ConfigError, match="There is no strategy option 'nope'; the options are: asha, bo, bohb, darts"):
        load_option("strategy", "nope")
