"""The strategy contract. A strategy proposes architectures (`ask`) and hears their objective
values (`tell`); it never knows how a candidate is scored.

Sample-based strategies keep all their randomness in `self.rng` (seeded), so a search resumes by
replaying its recorded trials through ask/tell: the strategy ends in exactly the state it had.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod

from nascli.spaces.base import Arch, SearchSpace


class Strategy(ABC):
    """Base of sample-based strategies (ask/tell)."""

    kind: str = "sample"

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        self.space = space
        self.seed = seed
        self.rng = random.Random(seed)

    @abstractmethod
    def ask(self) -> Arch:
        """The next architecture to evaluate."""

    def tell(self, arch: Arch, objective: float) -> None:
        """The objective value (higher is better) of an architecture from `ask`."""

    def warm_start(self, prior, task) -> None:
        """Start from a meta prior (nascli.meta.prior.ArchPrior) learned on earlier tasks, for `task`.

        Called once, before the first ask (and before a resumed search replays its trials)."""
        from nascli.errors import ConfigError

        raise ConfigError(f"strategy {type(self).__name__} cannot start from a meta prior (meta=).")


class OneShotStrategy(ABC):
    """Base of weight-sharing strategies: train a supernet, derive architectures from it.

    `search(run)` does the whole search on a nascli.search.oneshot.OneShotRun: it records one row
    per epoch (run.record), checks run.should_stop(), saves/loads its state for resume
    (run.save_state / run.load_state) and may run.choose() the final row (else the best one).
    """

    kind: str = "oneshot"

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        self.space = space
        self.seed = seed

    def warm_start(self, prior, task) -> None:
        """Start from a meta prior learned on earlier tasks (see Strategy.warm_start)."""
        from nascli.errors import ConfigError

        raise ConfigError(f"strategy {type(self).__name__} cannot start from a meta prior (meta=).")

    @abstractmethod
    def search(self, run) -> None:
        """Run the search to the end of its schedule or budget."""
