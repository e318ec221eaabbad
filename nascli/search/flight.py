"""The proposals a search has asked for and not yet told: what the engine keeps in flight.

Each proposal gets a number in the order asked (`proposed`) and notes how many objectives the
strategy had been told when it was asked (`asked_after`); trials.csv keeps both when several
workers run, so a resumed search replays the asks and tells interleaved as they happened
(nascli.search.resume). `attempts` counts how often its worker was lost under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nascli.strategies.base import Proposal


@dataclass
class Pending:
    """One proposal asked and not yet told."""

    proposal: Proposal
    proposed: int     # its number in the order asked
    asked_after: int  # objectives told before it was asked
    began: float      # the engine's clock when it was asked
    known: dict[str, float]  # its cost known before evaluation (a table's, or the profiler's)
    attempts: int = 0  # workers lost under it so far


class InFlight:
    """Up to `workers` pending proposals, by ticket (their `proposed` number), and the counts of
    asks and tells so far."""

    def __init__(self, workers: int, asked: int = 0, told: int = 0) -> None:
        self.workers, self.asked, self.told = workers, asked, told
        self.pending: dict[int, Pending] = {}

    def __len__(self) -> int:
        return len(self.pending)

    def has_room(self) -> bool:
        return len(self.pending) < self.workers

    def ask(self, proposal: Proposal, began: float, known: dict[str, float] | None = None) -> Pending:
        """Number a proposal just asked for (in flight until `told`)."""
        pending = Pending(proposal, self.asked, self.told, began, dict(known or {}))
        self.asked += 1
        self.pending[pending.proposed] = pending
        return pending

    def resume(self, proposal: Proposal, record: dict[str, Any], began: float, known: dict[str, float]) -> Pending:
        """A proposal that was in flight when the search stopped (checkpoint.json's record of it),
        asked again by the replay: in flight again under its old number."""
        pending = Pending(proposal, int(record["proposed"]), int(record["asked_after"]), began, dict(known))
        self.pending[pending.proposed] = pending
        return pending

    def told_of(self, ticket: int) -> Pending:
        """The pending proposal of `ticket`, now told (no longer in flight)."""
        self.told += 1
        return self.pending.pop(ticket)

    def order(self, pending: Pending) -> dict[str, int]:
        """trials.csv's record of when it was asked (with several workers)."""
        return {"proposed": pending.proposed, "asked_after": pending.asked_after}

    def record(self, describe: Any) -> list[dict[str, Any]]:
        """What checkpoint.json keeps of the proposals in flight (to ask them again on resume):
        `describe(proposal)` gives their arch_str and fidelity."""
        return [{**self.order(p), **describe(p.proposal)} for p in sorted(self.pending.values(), key=lambda p: p.proposed)]
