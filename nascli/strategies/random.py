"""Random search: uniform samples from the space (Li & Talwalkar, 2019); the baseline every strategy
must beat."""

from __future__ import annotations

from nascli.registry import STRATEGIES
from nascli.spaces.base import Arch, SearchSpace
from nascli.strategies.base import SampleStrategy
from nascli.strategies.genes import fresh


@STRATEGIES.register("random")
class RandomSearch(SampleStrategy):
    """Uniform sampling, without repeating an architecture while unseen ones are likely left; a
    meta prior's `warm_start_size` best-predicted architectures first."""

    def __init__(self, space: SearchSpace, seed: int, max_retries: int, warm_start_size: int) -> None:
        super().__init__(space, seed)
        self.max_retries, self.warm_start_size = max_retries, warm_start_size

    def initial_size(self) -> int:
        return self.warm_start_size

    def ask(self) -> Arch:
        return self.next_initial() or fresh(lambda: self.space.sample(self.rng), self.seen, self.max_retries)
