"""A simulated clock: N workers that each finish a candidate at its start plus its table cost.

A benchmark table knows how long each architecture took to train (its cost column, `cost_s`), so
a search with many workers can be simulated exactly instead of run: each candidate is looked up at
once, in this process, and finishes on the simulated clock at the time it started plus its cost;
the engine hears of it when the clock reaches that time. Deterministic (ties go to the earlier
submitted job, a freed worker to the lowest number), so a search with 64 simulated workers runs in
seconds and repeats exactly; what parallelism buys is read off the clock.
"""

from __future__ import annotations

import heapq
import math

from nascli.errors import ConfigError
from nascli.evaluators.base import Evaluator
from nascli.search.executors.base import Executor, Job, Outcome
from nascli.search.executors.scoring import score


class SimulatedClock(Executor):
    """`workers` simulated workers scoring with `evaluator`, a table whose cost is simulated."""

    simulated = True
    name = "simulated"

    def __init__(self, evaluator: Evaluator, workers: int) -> None:
        if not evaluator.simulated_cost:
            raise ConfigError(
                f"search.executor=simulated needs a simulated training cost per candidate (a benchmark table's cost "
                f"column); evaluator={evaluator.name or type(evaluator).__name__} has none. Use evaluator=tabular "
                f"with evaluator.cost_column=<a column of training seconds>; the shipped nb201 and nb101 tables have "
                f"none, and evaluator.cost_column=flops_m makes training time proportional to FLOPs.")
        self.evaluator, self.workers = evaluator, workers
        self.clock = 0.0
        self.free = list(range(workers))  # a heap: the lowest-numbered free worker takes the next job
        self.waiting: list[Job] = []      # submitted while every worker was busy (a resumed search's backlog)
        self.running: list[tuple[float, int, Outcome]] = []  # (finish time, submission number, outcome)
        self.submitted = 0

    def submit(self, job: Job) -> None:
        if not self.free:
            self.waiting.append(job)
            return
        worker = heapq.heappop(self.free)
        metrics = score(self.evaluator, job.arch, job.fidelity)
        cost = float(metrics.get("cost_s", 0.0))
        if not math.isfinite(cost) or cost < 0:
            cost = 0.0
        finished = self.clock + cost
        heapq.heappush(self.running, (finished, self.submitted,
                                      Outcome(job.ticket, worker, self.clock, finished, metrics)))
        self.submitted += 1

    def next(self) -> Outcome:
        finished, _, outcome = heapq.heappop(self.running)
        self.clock = finished
        heapq.heappush(self.free, outcome.worker)
        if self.waiting:
            self.submit(self.waiting.pop(0))
        return outcome

    def cancel(self) -> list[int]:
        tickets = [outcome.ticket for _, _, outcome in sorted(self.running)] + [job.ticket for job in self.waiting]
        self.free = list(range(self.workers))
        self.running, self.waiting = [], []
        return tickets

    def now(self) -> float:
        return self.clock
