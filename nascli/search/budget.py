"""The search budget: evaluated candidates, seconds, or both."""

from __future__ import annotations

from dataclasses import dataclass

from nascli.errors import ConfigError


@dataclass
class Budget:
    """Stop after `trials` evaluated candidates or `seconds` of search, whichever comes first."""

    trials: int | None
    seconds: float | None

    def __post_init__(self) -> None:
        if self.trials is None and self.seconds is None:
            raise ConfigError("The search needs a budget: set budget.trials=<n> or budget.seconds=<s> (or both).")
        if self.trials is not None and self.trials < 1:
            raise ConfigError(f"budget.trials must be at least 1, got {self.trials}.")
        if self.seconds is not None and self.seconds < 0:
            raise ConfigError(f"budget.seconds must be at least 0, got {self.seconds}.")

    def exhausted(self, trials_done: int, elapsed_s: float) -> str | None:
        """'trials' or 'seconds' once that part of the budget is spent, else None."""
        if self.trials is not None and trials_done >= self.trials:
            return "trials"
        if self.seconds is not None and elapsed_s >= self.seconds:
            return "seconds"
        return None
