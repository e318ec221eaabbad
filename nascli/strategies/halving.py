"""Successive halving and Hyperband: multi-fidelity search with uniformly drawn candidates
(nascli.strategies.fidelity runs the brackets)."""

from __future__ import annotations

from nascli.errors import ConfigError
from nascli.registry import STRATEGIES
from nascli.spaces.base import SearchSpace
from nascli.strategies.fidelity import MultiFidelitySearch, Rung, bracket, brackets_of, hyperband


@STRATEGIES.register("sh")
class SuccessiveHalving(MultiFidelitySearch):
    """One bracket, repeated: `candidates` new ones (default eta^s_max, so that one reaches the full
    fidelity) at the lowest fidelity, the best 1/eta promoted each rung."""

    def __init__(self, space: SearchSpace, seed: int, min_fidelity: int, max_fidelity: int | None, eta: int,
                 candidates: int | None, max_retries: int, warm_start_size: int) -> None:
        super().__init__(space, seed, min_fidelity, max_fidelity, eta, max_retries, warm_start_size)
        if candidates is not None and candidates < 1:
            raise ConfigError(f"strategy.candidates must be at least 1 (or null: eta^rungs), got {candidates}.")
        self.candidates = candidates

    def brackets(self, max_fidelity: int) -> list[list[Rung]]:
        s = brackets_of(self.min_fidelity, max_fidelity, self.eta) - 1
        return [bracket(s, self.candidates or self.eta**s, max_fidelity, self.eta, self.min_fidelity)]


@STRATEGIES.register("hyperband")
class Hyperband(MultiFidelitySearch):
    """Every bracket of Hyperband in turn, from the most candidates at the fewest epochs to a few
    candidates at the full fidelity; then again."""

    def brackets(self, max_fidelity: int) -> list[list[Rung]]:
        return hyperband(self.min_fidelity, max_fidelity, self.eta)
