"""What runs candidates for the engine: submit one, wait for the next to finish, cancel the rest.

An executor evaluates the candidates the engine submits on its workers and hands them back one at
a time as they finish, in the order they finish; the engine alone asks, records and tells (see
nascli.search.engine). Every executor reports the same `Outcome`, so the engine has one loop:

    executor.submit(job)          # while a worker is free (the engine keeps up to `workers` in flight)
    outcome = executor.next()     # blocks until one finishes (or its worker is lost)
    executor.cancel()             # budget.seconds with search.cancel_on_stop: what is still in flight

Times (`started`, `finished`, `now()`) are on the executor's own clock: wall-clock seconds for
real workers, the simulated clock of a benchmark table for `SimulatedClock`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from nascli.evaluators.base import Evaluator
from nascli.search.executors.scoring import score
from nascli.spaces.base import Arch


@dataclass(frozen=True)
class Job:
    """One candidate to evaluate: the engine's ticket for it, the architecture and its fidelity."""

    ticket: int
    arch: Arch
    fidelity: int | None


@dataclass
class Outcome:
    """How a job ended: its `metrics` (the evaluator's, a failed candidate's scored nan with its
    reason), or `lost` (why its worker died: it may be retried), or `error` (the evaluator refused
    it: the search ends with that error). `worker` names who ran it."""

    ticket: int
    worker: Any
    started: float
    finished: float
    metrics: dict[str, Any] = field(default_factory=dict)
    lost: str | None = None
    error: BaseException | None = None


class Executor(ABC):
    """Runs up to `workers` jobs at once (see the module docstring)."""

    workers: int = 1
    simulated: bool = False  # its clock is a benchmark's simulated training time, not the wall's
    name: str = ""

    def start(self) -> None:
        """Start the workers (before the first submit)."""

    @abstractmethod
    def submit(self, job: Job) -> None:
        """Start evaluating `job` (the engine never has more than `workers` in flight, but a resumed
        search may hand over more at once: they wait for a free worker)."""

    @abstractmethod
    def next(self) -> Outcome:
        """The next job to finish, waiting for it."""

    def cancel(self) -> list[int]:
        """Stop every job in flight; returns their tickets."""
        return []

    def close(self) -> None:
        """Stop the workers."""

    def now(self) -> float:
        """The executor's clock (seconds), on which Outcome times are given."""
        return time.time()

    def __enter__(self) -> Executor:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class InProcess(Executor):
    """One worker: the engine's own process evaluates each job when asked for the next (a search
    with search.workers=1, exactly as before there were workers)."""

    name = "in-process"

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.queue: deque[Job] = deque()

    def submit(self, job: Job) -> None:
        self.queue.append(job)

    def next(self) -> Outcome:
        job = self.queue.popleft()
        started = self.now()
        metrics = score(self.evaluator, job.arch, job.fidelity)
        return Outcome(job.ticket, 0, started, self.now(), metrics)

    def cancel(self) -> list[int]:
        tickets = [job.ticket for job in self.queue]
        self.queue.clear()
        return tickets

    def now(self) -> float:
        return time.perf_counter()
