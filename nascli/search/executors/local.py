"""search.executor=local: worker processes on this machine, each evaluating one candidate at a time.

Each worker is a process of its own (the spawn context: a fresh interpreter, safe with CUDA and
threads), given the search's Recipe once; it holds one GPU slot for its life, as a sweep's job
does (device=auto with GPUs: nascli.runtime.devices, jobs_per_gpu applies, the locks under the
run directory), or on CPU its share of the threads. A worker that dies (SIGKILL, out of memory)
loses only its candidate: the executor reports it lost and starts a new worker in its place.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
from collections import deque
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from nascli.search.executors.base import Executor, Job, Outcome
from nascli.search.executors.worker import Recipe, evaluate, placed

log = logging.getLogger("nascli.search")


def serve(conn: Connection, recipe: Recipe, slot_dir: Path, index: int, threads: int) -> None:
    """A worker's life: take a place (GPU slot or threads), build the evaluator, then evaluate each
    job received until told to stop (None) or the search's process is gone. Ctrl-C is the search's
    to handle (it stops its workers); what a candidate's failure says, the search logs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.disable(logging.WARNING)
    with placed(recipe, slot_dir, index, threads) as device:
        evaluator = recipe.build(device)
        while True:
            try:
                job = conn.recv()
            except (EOFError, OSError):  # the search's process is gone
                return
            if job is None:
                return
            answer = evaluate(evaluator, job)
            try:
                conn.send(answer)
            except OSError:  # the search's process is gone (killed): nobody to answer
                return


def cpu_share(workers: int) -> int:
    """Torch threads per worker on CPU: the search's own threads (torch's, which OMP_NUM_THREADS
    sets; by default one per core), shared evenly, at least one each."""
    import torch

    return max(1, torch.get_num_threads() // workers)


def death(exitcode: int | None) -> str:
    """Why a worker process ended, in words."""
    if exitcode is None:
        return "its worker process stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (the kernel's out-of-memory killer sends it too)" if name == "SIGKILL" else ""
        return f"its worker process was killed by {name}{hint}"
    return f"its worker process exited with status {exitcode}"


class LocalProcesses(Executor):
    """`workers` processes on this machine (see the module docstring)."""

    name = "local"

    def __init__(self, recipe: Recipe, workers: int, run_dir: Path) -> None:
        self.recipe, self.workers, self.slot_dir = recipe, workers, Path(run_dir)
        self.threads = cpu_share(workers)
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[Any] = [None] * workers
        self.conns: list[Connection | None] = [None] * workers
        self.busy: dict[int, Job] = {}      # worker -> its job
        self.waiting: deque[Job] = deque()  # submitted while every worker was busy

    def start(self) -> None:
        for index in range(self.workers):
            self._spawn(index)

    def _spawn(self, index: int) -> None:
        ours, theirs = self.context.Pipe()
        process = self.context.Process(target=serve, args=(theirs, self.recipe, self.slot_dir, index, self.threads),
                                       name=f"nascli-worker-{index}", daemon=True)
        process.start()
        theirs.close()
        self.processes[index], self.conns[index] = process, ours

    def submit(self, job: Job) -> None:
        free = [i for i in range(self.workers) if i not in self.busy]
        if not free:
            self.waiting.append(job)
            return
        if self.processes[free[0]] is None:  # its worker died: a new one takes its place
            self._spawn(free[0])
        self.busy[free[0]] = job
        self.conns[free[0]].send(job)

    def next(self) -> Outcome:
        by_conn = {self.conns[i]: i for i in self.busy}
        ready = wait(list(by_conn))
        index = by_conn[ready[0]]
        job = self.busy.pop(index)
        try:
            answer = self.conns[index].recv()
        except (EOFError, OSError):
            outcome = self._lost(index, job)
        else:
            outcome = Outcome(job.ticket, index, answer["started"], answer["finished"], answer.get("metrics") or {},
                              error=answer.get("error"))
        if self.waiting:
            self.submit(self.waiting.popleft())
        return outcome

    def _lost(self, index: int, job: Job) -> Outcome:
        """The worker died under `job`: report it lost (a new worker starts with the next job)."""
        process = self.processes[index]
        process.join(timeout=10)
        reason = death(process.exitcode)
        log.warning("worker %d (pid %s): %s", index, process.pid, reason)
        self.conns[index].close()
        self.processes[index] = self.conns[index] = None
        now = self.now()
        return Outcome(job.ticket, index, now, now, lost=reason)

    def cancel(self) -> list[int]:
        tickets = [job.ticket for job in self.busy.values()] + [job.ticket for job in self.waiting]
        for index in list(self.busy):
            self.processes[index].kill()
            self.processes[index].join(timeout=10)
            self.conns[index].close()
            self.processes[index] = self.conns[index] = None
        self.busy.clear()
        self.waiting.clear()
        return tickets

    def close(self) -> None:
        for index, process in enumerate(self.processes):
            if process is None:
                continue
            if process.is_alive() and index not in self.busy:
                try:
                    self.conns[index].send(None)
                except (BrokenPipeError, OSError):
                    pass
            process.join(timeout=5 if index not in self.busy else 0)
            if process.is_alive():
                process.kill()
                process.join(timeout=10)
            self.conns[index].close()
        self.processes = [None] * self.workers
