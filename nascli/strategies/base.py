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
