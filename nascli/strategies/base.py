"""The strategy contract: what every search strategy offers the search engine (nascli.search).

A strategy decides what to try next. It never knows how a candidate is scored, never writes a
file and never prints: the engine drives every strategy the same way,

    strategy.setup(context)                   # once: one-shot strategies build their supernet
    while the budget lasts:
        proposal = strategy.propose()         # None: the strategy's own schedule is over
        metrics = proposal.metrics or evaluator.evaluate(proposal.arch, proposal.fidelity)
        strategy.tell(proposal.arch, objective)   # from the objective (nascli.hardware.objective)
    result = strategy.choose(rows)            # None: the row of the best objective

and records, checkpoints, shows progress and writes every file itself.

With `search.workers=N` (N > 1) the engine keeps up to N proposals in flight: it calls propose()
again before earlier proposals are told, and tells each proposal's objective once, in the order
the results arrive (not the order proposed). A strategy that cannot propose until it hears back
(a generation, a batch of controller samples, a rung waiting for results) returns `WAIT`; the
engine then waits for a result and asks again. A strategy whose `concurrent` is False (one-shot
strategies: a proposal is an epoch of one supernet) is only ever asked for one at a time.

Two kinds implement it:
- SampleStrategy (random, evolution, ...): ask/tell. All randomness lives in `self.rng`, so the
  engine resumes one by replay: asking again and telling the recorded objectives brings a fresh
  strategy to exactly the state it had.
- OneShotStrategy (DARTS, SPOS, ...): trains a supernet and measures its own candidates, one
  `step()` per proposal; the engine resumes it from `state_dict()`.

What a strategy is told is always a number (or point) to maximise: a lower-is-better metric
(perplexity, loss) arrives negated by the objective (nascli.hardware.objective.told), so no strategy
needs to know a metric's direction to search. The recorded rows it is shown (choose, artifacts)
hold the objective in the metric's own units, as people read it: pick among them with `best_row`.

A strategy registers itself (`@STRATEGIES.register("name")`, nascli.registry); its YAML in
conf/strategy/ holds its defaults.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from nascli.data.datasets import DataOnDemand
from nascli.errors import ConfigError
from nascli.hardware.latency_table import LatencyTerms
from nascli.runtime import metrics
from nascli.spaces.base import Arch, SearchSpace
from nascli.training.loop import TrainConfig


class _Wait:
    """The type of WAIT."""

    def __repr__(self) -> str:
        return "WAIT"


WAIT = _Wait()  # propose()'s answer when nothing can be proposed until a pending proposal is told

Objective = float | tuple[float, ...]  # what a strategy is told; a tuple is a point to maximise in every part


def best_row(rows: Sequence[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    """The row of the best recorded `objective` in `metric`'s direction (the lowest perplexity, the
    highest accuracy), the earliest among equals; None when no row is scored."""
    scored = [r for r in rows if r.get("objective") is not None]
    score = metrics.metric(metric).score
    return max(scored, key=lambda r: score(r["objective"])) if scored else None


def scalar(objective: Objective) -> float:
    """The objective's first part (the evaluator's metric) where a strategy needs one number."""
    return objective[0] if isinstance(objective, tuple) else objective


@dataclass
class SearchContext(DataOnDemand):
    """What a strategy may use besides its space and seed. Data is loaded on first use, so a
    strategy that needs none (sample-based ones) never loads it."""

    device: Any
    load_data: Callable[[], Any]
    latency: LatencyTerms | None = None  # a latency table's terms (hardware=lut), for a differentiable latency term
    latency_loss_weight: float = 0.0  # its weight in a one-shot strategy's architecture loss
    max_fidelity: int | None = None   # the most a candidate is trained (epochs), when the evaluator can train less
    metric: str = "val_accuracy"      # the metric rows' `objective` is made of (the engine sets the evaluator's)


@dataclass
class Proposal:
    """One candidate for the engine to record: measured by the strategy (`metrics`, with
    val_accuracy in percent) or, when `metrics` is None, to be scored by the evaluator."""

    arch: Arch
    metrics: dict[str, float] | None = None
    columns: dict[str, Any] = field(default_factory=dict)  # extra trials.csv columns: epoch, lr, phase, ...
    info: str = ""  # a few words for the progress bar
    fidelity: int | None = None  # train for this many epochs instead of the evaluator's full training


@dataclass
class Artifacts:
    """Files and report sections a strategy wants in the run directory; the engine writes them."""

    files: dict[str, str | dict | list] = field(default_factory=dict)  # text or JSON, after every step
    plots: dict[str, Callable[[Path], Any]] = field(default_factory=dict)  # name -> draw(path), at the end
    sections: list[tuple[str, str]] = field(default_factory=list)  # (title, markdown) for report.md, at the end
    results: dict[str, Any] = field(default_factory=dict)  # entries of report.json's results, at the end


class Strategy(ABC):
    """What every strategy offers the engine (see the module docstring)."""

    name: str = ""                      # set by @STRATEGIES.register
    trains_weights: ClassVar[bool] = False  # built with the search's trainer (`trainer=`): its weight-training recipe
    measures_candidates: bool = False   # proposals carry their own metrics (one-shot)
    resumes_from_state: bool = False    # resumed from state_dict (else by replaying the rows)
    concurrent: ClassVar[bool] = True   # may have several proposals in flight (search.workers > 1)
    stop_reason: str | None = None      # why propose() returned None, if not the end of its schedule

    def __init__(self, space: SearchSpace, seed: int) -> None:
        self.space = space
        self.seed = seed

    def warm_start(self, prior: Any, task: Any) -> None:
        """Start from a meta prior (nascli.meta.prior.ArchPrior) learned on earlier tasks, for
        `task`. Called once, before setup and before a resumed search is restored."""
        raise ConfigError(f"strategy {type(self).__name__} cannot start from a meta prior (meta=).")

    def setup(self, context: SearchContext) -> None:
        """Called once before the first proposal (and before a resumed one is restored)."""

    @abstractmethod
    def propose(self) -> Proposal | None | _Wait:
        """The next candidate; None when the strategy's schedule is over; WAIT when nothing can be
        proposed until a proposal in flight is told (only while one is: see the module docstring)."""

    def tell(self, arch: Arch, objective: Objective) -> None:
        """The objective (higher is better; -inf: failed or infeasible) of a proposed architecture:
        a number, or with hardware.objective=pareto a tuple (accuracy, -cost), both maximised; a
        lower-is-better metric's value comes negated (see the module docstring)."""

    def steps(self) -> int | None:
        """How many proposals the strategy's schedule holds (None: as many as the budget allows)."""
        return None

    def schedule_text(self) -> str:
        """What the steps of its schedule are, in a few words ("50 epochs"), for messages and reports."""
        steps = self.steps()
        return "no schedule" if steps is None else f"{steps} steps"

    def choose(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
        """The search's result among the recorded rows (None: the row of the best objective)."""
        return None

    def divergence_advice(self) -> str:
        """What to change when the loss of the weights this strategy trains became nan or inf."""
        return "Lower trainer.lr (the rate its weights train at)."

    def state_dict(self) -> dict[str, Any]:
        """What resumes a strategy that `resumes_from_state` (tensors and plain containers)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict returned (after setup)."""

    def artifacts(self, rows: Sequence[dict[str, Any]], final: bool) -> Artifacts:
        """Files for the run directory after each step; plots and report sections when `final`."""
        return Artifacts()


class SampleStrategy(Strategy):
    """Ask/tell strategies. A meta prior seeds `initial_size()` architectures, asked first."""

    def __init__(self, space: SearchSpace, seed: int) -> None:
        super().__init__(space, seed)
        self.rng = random.Random(seed)
        self.seen: set[Arch] = set()          # every architecture asked, to avoid repeats
        self.initial: deque[Arch] = deque()   # a meta prior's best-predicted architectures

    @abstractmethod
    def ask(self) -> Arch:
        """The next architecture to evaluate."""

    def propose(self) -> Proposal:
        return Proposal(self.ask())

    def initial_size(self) -> int:
        """How many of a meta prior's architectures to try first (0: the strategy takes no prior)."""
        return 0

    def warm_start(self, prior: Any, task: Any) -> None:
        """Try the prior's `initial_size()` best-predicted architectures first."""
        if not self.initial_size():
            super().warm_start(prior, task)
        self.initial = deque(prior.propose(self.space, task, self.initial_size(), self.rng))

    def next_initial(self) -> Arch | None:
        """The next of the prior's architectures (marked seen), or None when none is left."""
        if not self.initial:
            return None
        arch = self.initial.popleft()
        self.seen.add(arch)
        return arch


class OneShotStrategy(Strategy):
    """Weight-sharing strategies: `step()` trains (an epoch of the supernet, or scores a subnet
    with it) and returns the measured candidate; the result is the last row unless chosen.

    The supernet's weights train by the search's trainer group (`trainer`: epochs, batch size, SGD
    and its schedule, the speed switches), which the strategy's YAML picks a default option of."""

    trains_weights = True
    measures_candidates = True
    resumes_from_state = True
    concurrent = False  # one supernet, trained epoch by epoch; data-parallel under torchrun instead
    # trainer options a supernet's training has no use for: a value other than 0 is refused, not ignored
    UNUSED_TRAINER_OPTIONS = ("label_smoothing", "cutout", "auxiliary_weight", "drop_path")

    def __init__(self, space: SearchSpace, seed: int, trainer: TrainConfig) -> None:
        super().__init__(space, seed)
        if trainer.epochs < 1:
            raise ConfigError(f"trainer.epochs must be at least 1 for a one-shot search, got {trainer.epochs}.")
        for key in self.UNUSED_TRAINER_OPTIONS:
            if getattr(trainer, key):
                raise ConfigError(f"trainer.{key}={getattr(trainer, key)} does not apply to a one-shot search: "
                                  f"{type(self).__name__} trains its supernet without it. Set trainer.{key}=0.")
        self.trainer = trainer

    @abstractmethod
    def setup(self, context: SearchContext) -> None:
        """Build the supernet and optimisers (weights initialised from the seed alone)."""

    @abstractmethod
    def step(self) -> Proposal | None:
        """One unit of the schedule, measured; None when the schedule is over."""

    def propose(self) -> Proposal | None:
        return self.step()

    def choose(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
        return rows[-1] if rows else None

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed search needs (tensors and plain containers: weights_only loads)."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore state_dict's output after setup."""


def build_optimizer(node: dict[str, Any], where: str, params: Any, **extra: Any) -> Any:
    """The optimiser a partial node of the strategy's YAML names (`arch_optimizer`), built on `params`
    with hydra.utils.instantiate (`extra`: what the run adds, e.g. capturable=True); a value the
    optimiser refuses (a negative lr) is a ConfigError naming `where`."""
    from hydra.utils import instantiate

    try:
        return instantiate(node, _convert_="all", **extra)(params)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where} ({node.get('_target_')}) cannot be built: {exc}") from None


def require_positive(strategy: str, **sizes: int) -> None:
    """A ConfigError naming the first size below 1."""
    for key, value in sizes.items():
        if value < 1:
            raise ConfigError(f"strategy.{key} must be positive for {strategy}, got {value}.")
