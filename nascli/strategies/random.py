"""Random search: uniform samples from the space; the baseline every strategy must beat."""

from __future__ import annotations

from nascli.spaces.base import Arch
from nascli.strategies.base import Strategy


class RandomSearch(Strategy):
    """Uniform sampling, without repeating an architecture while unseen ones are likely left."""

    def __init__(self, space, seed: int = 0, max_retries: int = 100, warm_start_size: int = 10) -> None:
        super().__init__(space, seed)
        self.max_retries = max_retries
        self.warm_start_size = warm_start_size
        self.seen: set[Arch] = set()
        self.queued: list[Arch] = []

    def warm_start(self, prior, task) -> None:
        """Try the prior's best-predicted architectures first, then sample uniformly."""
        self.queued = prior.propose(self.space, task, self.warm_start_size, self.rng)

    def ask(self) -> Arch:
        if self.queued:
            arch = self.queued.pop(0)
            self.seen.add(arch)
            return arch
        arch = self.space.sample(self.rng)
        for _ in range(self.max_retries):
            if arch not in self.seen:
                break
            arch = self.space.sample(self.rng)
        self.seen.add(arch)
        return arch
