"""search.executor=submitit: one job per candidate through submitit, on Slurm or (cluster=local)
as local processes that run exactly as Slurm would run them.

Each job is given the search's Recipe with its candidate, builds the evaluator and opens the data
on its node, evaluates, and returns the metrics (a job is a worker for one candidate). Its
resources are search.submitit's, the keys of the submitit_slurm launcher preset. A job that dies
(preempted, out of memory, its node lost, cancelled) loses only its candidate: it is reported
lost, and the engine submits it again (search.retries).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from nascli.errors import ConfigError
from nascli.search.executors.base import Executor, Job, Outcome
from nascli.search.executors.worker import Recipe, evaluate

log = logging.getLogger("nascli.search")
POLL_S = 0.5  # how often the jobs' states are read while waiting


def run_job(recipe: Recipe, job: Job, threads: int) -> dict[str, Any]:
    """What one submitit job runs: build the evaluator where the job runs, evaluate one candidate."""
    import torch

    from nascli.runtime.common import resolve_device

    device = resolve_device(recipe.device)  # Slurm gave the job its GPUs (gpus_per_node), or none
    if device.type == "cpu" and threads:
        torch.set_num_threads(threads)
    return evaluate(recipe.build(device), job)


class SubmititJobs(Executor):
    """Up to `workers` submitit jobs at once (see the module docstring); `options` is search.submitit."""

    name = "submitit"

    def __init__(self, recipe: Recipe, workers: int, options: Any, run_dir: Path) -> None:
        self.recipe, self.workers, self.options = recipe, workers, options
        self.folder = Path(options.folder) if options.folder else Path(run_dir) / ".submitit"
        self.running: dict[Any, Job] = {}  # submitit job -> our job
        self.waiting: list[Job] = []
        self.answers: dict[Any, Outcome] = {}  # finished jobs read but not yet handed to the engine

    def start(self) -> None:
        try:
            import submitit
        except ImportError:
            raise ConfigError('search.executor=submitit needs submitit: pip install "nascli[slurm]".') from None
        o = self.options
        self.executor = submitit.AutoExecutor(folder=str(self.folder / "%j"), cluster=o.cluster)
        self.executor.update_parameters(
            name="nas-candidate", timeout_min=o.timeout_min, cpus_per_task=o.cpus_per_task,
            gpus_per_node=o.gpus_per_node, mem_gb=o.mem_gb, slurm_partition=o.partition, slurm_qos=o.qos,
            slurm_account=o.account, slurm_constraint=o.constraint, slurm_setup=o.setup,
            slurm_additional_parameters=dict(o.additional_parameters) or None)

    def submit(self, job: Job) -> None:
        if len(self.running) >= self.workers:
            self.waiting.append(job)
            return
        self.running[self.executor.submit(run_job, self.recipe, job, self.options.cpus_per_task or 0)] = job

    def next(self) -> Outcome:
        while not (done := [j for j in self.running if j.done()]):
            time.sleep(POLL_S)
        # of the jobs that ended since the last poll, the first to end: trials.csv is in completion order
        for j in done:
            if j not in self.answers:
                self.answers[j] = self._answer(j)
        first = min(done, key=lambda j: self.answers[j].finished)
        self.running.pop(first)
        if self.waiting:
            self.submit(self.waiting.pop(0))
        return self.answers.pop(first)

    def _answer(self, done: Any) -> Outcome:
        """The outcome of a finished submitit job (kept by submitit until it is asked again)."""
        job = self.running[done]
        try:
            answer = done.result()
        except Exception as exc:  # noqa: BLE001 - submitit's UncompletedJobError, FailedJobError, ...
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            reason = f"its job {done.job_id} did not finish ({type(exc).__name__}: {first})"
            log.warning(reason)
            return Outcome(job.ticket, str(done.job_id), self.now(), self.now(), lost=reason)
        return Outcome(job.ticket, str(done.job_id), answer["started"], answer["finished"],
                       answer.get("metrics") or {}, error=answer.get("error"))

    def cancel(self) -> list[int]:
        tickets = [job.ticket for job in self.running.values()] + [job.ticket for job in self.waiting]
        for submitted in self.running:
            submitted.cancel(check=False)
        self.running, self.waiting, self.answers = {}, [], {}
        return tickets

    def close(self) -> None:
        self.cancel()
