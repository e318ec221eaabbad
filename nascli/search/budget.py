"""The search budget: evaluated candidates, seconds, or both; and how it meets a strategy's schedule.

A strategy with a schedule of its own (a one-shot strategy's epochs, SPOS' subnets) runs it whole
under `budget=schedule` (both parts null), which its YAML picks. A budget the user sets may cut the
schedule short: `Budget.cuts` says so in one line before the search starts, and the report records
it (`Budget.record`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nascli.errors import ConfigError


@dataclass
class Budget:
    """Stop after `trials` evaluated candidates or `seconds` of search, whichever comes first
    (either may be None: no limit of that kind)."""

    trials: int | None
    seconds: float | None

    def __post_init__(self) -> None:
        if self.trials is not None and self.trials < 1:
            raise ConfigError(f"budget.trials must be at least 1, got {self.trials}.")
        if self.seconds is not None and self.seconds < 0:
            raise ConfigError(f"budget.seconds must be at least 0, got {self.seconds}.")

    @property
    def unlimited(self) -> bool:
        return self.trials is None and self.seconds is None

    def check(self, strategy: str, schedule: int | None) -> None:
        """A ConfigError when nothing would stop the search: no budget, and no schedule of its own."""
        if self.unlimited and schedule is None:
            raise ConfigError(f"strategy {strategy} has no schedule of its own, so the search needs a budget: set "
                              "budget.trials=<n> or budget.seconds=<s> (or both), or budget=default.")

    def cuts(self, strategy: str, schedule: int | None, done: int, what: str) -> str | None:
        """One line for a budget that will (or may) end a schedule early, or None. `what` says what
        the schedule's steps are ("50 epochs")."""
        if schedule is None or done >= schedule:
            return None
        if self.trials is not None and self.trials < schedule:
            return (f"budget.trials={self.trials} cuts the schedule of {strategy} ({what}) after {self.trials} of its "
                    f"{schedule} steps; to run it whole, drop budget.trials (budget.trials=null, or budget=schedule).")
        if self.seconds is not None:
            return (f"budget.seconds={self.seconds:g} may end the schedule of {strategy} ({what}) before its "
                    f"{schedule} steps; to run it whole, drop budget.seconds (budget.seconds=null, or budget=schedule).")
        return None

    def exhausted(self, trials_done: int, elapsed_s: float) -> str | None:
        """'trials' or 'seconds' once that part of the budget is spent, else None."""
        if self.trials is not None and trials_done >= self.trials:
            return "trials"
        if self.seconds is not None and elapsed_s >= self.seconds:
            return "seconds"
        return None


def schedule_record(schedule: int | None, done: int, stopped_by: str, what: str) -> dict[str, Any] | None:
    """report.json's `schedule` of a strategy that has one: its steps, how many ran, and what cut
    it short (budget.trials, budget.seconds) if anything did; None for a strategy without one."""
    if schedule is None:
        return None
    cut = f"budget.{stopped_by}" if stopped_by in ("trials", "seconds") and done < schedule else None
    return {"steps": schedule, "what": what, "done": done, "cut_by": cut}
