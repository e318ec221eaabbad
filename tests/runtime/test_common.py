"""Config checks and building objects from config nodes."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from nascli.errors import ConfigError
from nascli.runtime.common import build, get_float, get_int, resolve_device


def test_get_int_accepts_ints_and_null_and_names_the_bad_key() -> None:
    cfg = OmegaConf.create({"budget": {"trials": 5, "none": None, "bad": "abc", "flag": True}})
    assert get_int(cfg, "budget.trials", minimum=1) == 5
    assert get_int(cfg, "budget.none", allow_none=True) is None
    with pytest.raises(ConfigError, match="budget.bad must be an integer"):
        get_int(cfg, "budget.bad")
    with pytest.raises(ConfigError, match="budget.flag"):
        get_int(cfg, "budget.flag")
    with pytest.raises(ConfigError, match="at least 10"):
        get_int(cfg, "budget.trials", minimum=10)


def test_get_float() -> None:
    cfg = OmegaConf.create({"lr": 0.1, "bad": "fast"})
    assert get_float(cfg, "lr") == 0.1
    with pytest.raises(ConfigError, match="bad must be a number"):
        get_float(cfg, "bad")


def test_build_passes_runtime_objects_untouched_and_reports_bad_options() -> None:
    node = OmegaConf.create({"_target_": "nascli.strategies.random.RandomSearch", "max_retries": 3})
    space = object()
    strategy = build(node, "strategy", space=space, seed=1)
    assert strategy.space is space and strategy.max_retries == 3
    bad = OmegaConf.create({"_target_": "nascli.strategies.random.RandomSearch", "temperature": 2})
    with pytest.raises(ConfigError, match="strategy.*temperature"):
        build(bad, "strategy", space=space, seed=1)
    with pytest.raises(ConfigError, match="strategy"):
        build(OmegaConf.create({"_target_": "nascli.strategies.nope.Nope"}), "strategy")


def test_device_names() -> None:
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ConfigError, match="device must be"):
        resolve_device("tpu")
