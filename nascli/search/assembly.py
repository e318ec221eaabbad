"""A search assembled from its config in one direction: a settled space, then the evaluator, the
strategy, the cost profiler and the objective, each built once, and what the strategy is set up with.

The space is settled before anything uses it: training hyper-parameters joined as genes
(search_space.hparams), fitted to the data's input where its valid architectures depend on it
(chain), and restricted as the evaluator's options say (a benchmark table's architectures). The
evaluator and the strategy are then built for that one space object; nothing is replaced later.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from nascli.data.datasets import DataShape, DataSplits, data_shape
from nascli.data.tables import check_reads
from nascli.errors import ConfigError
from nascli.evaluators.base import EvalContext, Evaluator, evaluator_class, restricted_space
from nascli.hardware.profiler import CostProfiler
from nascli.hardware.target import HardwareTarget, build_target
from nascli.runtime.config import build, target_of
from nascli.spaces.base import SearchSpace
from nascli.spaces.joint import build_space
from nascli.strategies.base import SearchContext, Strategy


@dataclass(frozen=True)
class Search:
    """The parts of one search, settled: what the engine runs (nascli.search.engine.SearchEngine)."""

    space: SearchSpace
    evaluator: Evaluator
    strategy: Strategy
    hardware: HardwareTarget   # its cost profiler and its objective
    context: SearchContext     # what the strategy is set up with (the data on demand, among others)
    loaded_data: Callable[[], DataSplits | None]  # the data if anything has loaded it, else None (none is loaded)


def assemble(cfg: DictConfig, seed: int, device: Any) -> Search:
    """Build the search `cfg` describes (conf/search.yaml's groups), in this order. The data is
    loaded once, and only when something needs it (a benchmark table's search never does)."""
    load_data: Callable[[], DataSplits] = functools.cache(lambda: build(cfg.dataset, "dataset"))
    shape = functools.cache(lambda: data_shape(cfg.dataset, load_data))  # cifar10's is known without its files
    trainer = build(cfg.trainer, "trainer")

    space = build_space(cfg.search_space)  # with training hyper-parameters as genes when search_space.hparams says
    check_reads(space, cfg.dataset)
    if space.needs_input:  # e.g. chain: which strides fit depends on the input size; mlp: a table's categorical columns
        space = space.for_shape(shape())
    _check_joint(space, evaluator_class(cfg.evaluator))
    space = restricted_space(cfg.evaluator, space)  # e.g. a benchmark table's architectures only: settled from here on

    evaluator = build(cfg.evaluator, "evaluator", context=EvalContext(space, seed, device, trainer, load_data))
    weights = {"trainer": trainer} if target_of(cfg.strategy, "strategy").trains_weights else {}  # its recipe
    strategy = build(cfg.strategy, "strategy", space=space, seed=seed, **weights)
    hardware = build_target(cfg.hardware)  # the cost profiler, then the objective
    context = strategy_context(strategy, evaluator, hardware.profiler, device, load_data, shape)
    return Search(space, evaluator, strategy, hardware, context,
                  lambda: load_data() if load_data.cache_info().currsize else None)


def strategy_context(strategy: Strategy, evaluator: Evaluator, profiler: CostProfiler, device: Any,
                     load_data: Callable[[], DataSplits], shape: Callable[[], DataShape]) -> SearchContext:
    """What `strategy` is set up with besides its space and seed: the data on demand; for a one-shot
    strategy, the profiler's differentiable latency at the data's shape (hardware=lut); for a
    sample-based one, the most epochs the evaluator trains a candidate (multi-fidelity strategies)."""
    if not strategy.measures_candidates:
        return SearchContext(device, load_data, max_fidelity=evaluator.max_fidelity())
    loss = profiler.latency_loss(strategy.space, shape())
    if loss is None:
        return SearchContext(device, load_data)
    return SearchContext(device, load_data, latency=loss.terms, latency_loss_weight=loss.weight)


def _check_joint(space: SearchSpace, scorer: type[Evaluator]) -> None:
    """Training hyper-parameters searched with the architecture need an evaluator that trains."""
    if space.hparam_choices() and not scorer.trains:
        raise ConfigError(f"search_space.hparams ({', '.join(space.hparam_choices())}) are searched by training each "
                          f"candidate with them; evaluator={scorer.name} does not train. Use evaluator=train.")
