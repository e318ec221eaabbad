"""Objects built from the shipped configs, with a few options changed: the tests' starting points.

The YAML of each option (conf/<group>/<name>.yaml) holds its defaults; a class built from config
declares none, so tests build as users do, e.g. space("nb201", channels=4) is
`search_space=nb201 search_space.channels=4`.
"""

from __future__ import annotations

from typing import Any

import torch

from nascli.evaluators.base import restricted_space
from nascli.hardware.target import target_option
from nascli.runtime.config import build_option, option_node

CPU = torch.device("cpu")


def space(name: str = "nb201", **options: Any) -> Any:
    return build_option("search_space", name, options)


def dataset(name: str = "digits", **options: Any) -> Any:
    """A dataset's splits (digits: offline; fake: random tensors)."""
    return build_option("dataset", name, options)


def trainer(name: str = "proxy", **options: Any) -> Any:
    return build_option("trainer", name, options)


def strategy(name: str, space: Any, seed: int = 0, trainer: Any = None, **options: Any) -> Any:
    """A strategy as `nas search strategy=<name>` builds it; one that trains weights gets `trainer`
    (a TrainConfig), by default the trainer option its YAML picks (darts: darts_search)."""
    from nascli.runtime.config import chosen_options, load_option, target_of

    if not target_of(load_option("strategy", name), "strategy").trains_weights:
        return build_option("strategy", name, options, space=space, seed=seed)
    trainer = trainer if trainer is not None else build_option("trainer", chosen_options("strategy", name)["trainer"])
    return build_option("strategy", name, options, space=space, seed=seed, trainer=trainer)


def search_trainer(strategy_name: str, **options: Any) -> Any:
    """The trainer option a one-shot strategy's YAML picks, with some options changed."""
    from nascli.runtime.config import chosen_options

    return build_option("trainer", chosen_options("strategy", strategy_name)["trainer"], options)


def evaluator(name: str, context: Any, **options: Any) -> Any:
    return build_option("evaluator", name, options, context=context)


def restricted(name: str, space: Any, **options: Any) -> Any:
    """The space strategies search when evaluator=<name> with `options` scores it (a table's
    architectures only, for evaluator=tabular): what an evaluator of it is then built for."""
    return restricted_space(option_node("evaluator", name, options), space)


def hardware(name: str = "none", **options: Any) -> Any:
    """hardware=<name>: its cost profiler and objective (a HardwareTarget)."""
    return target_option(name, options)


def method(name: str, **options: Any) -> Any:
    return build_option("method", name, options)
