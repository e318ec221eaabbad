"""search.executor=ray: one Ray actor per worker, on a running Ray cluster or a local Ray instance.

Each actor is given the search's Recipe once, when it starts, builds the evaluator and opens the
data where it runs, then evaluates one candidate at a time. It reserves search.ray.num_cpus CPU
cores and search.ray.num_gpus GPUs, so Ray places it (and, with GPUs, sets CUDA_VISIBLE_DEVICES
for it). An actor that dies (its node lost, killed) loses only its candidate: it is reported lost
and a new actor takes its place.
"""

from __future__ import annotations

import logging
from typing import Any

from nascli.errors import ConfigError
from nascli.search.executors.base import Executor, Job, Outcome
from nascli.search.executors.worker import Recipe, evaluate

log = logging.getLogger("nascli.search")


class RayWorker:
    """A Ray actor's body: the evaluator built once on its node, then one job at a time."""

    def __init__(self, recipe: Recipe, threads: int) -> None:
        import torch

        from nascli.runtime.common import resolve_device

        device = resolve_device(recipe.device)  # Ray narrowed the visible GPUs to those it gave this actor
        if device.type == "cpu":
            torch.set_num_threads(threads)
        self.evaluator = recipe.build(device)

    def evaluate(self, job: Job) -> dict[str, Any]:
        return evaluate(self.evaluator, job)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError('search.executor=ray needs Ray: pip install "nascli[ray]".') from None
    return ray


class RayActors(Executor):
    """`workers` Ray actors (see the module docstring); `options` is search.ray."""

    name = "ray"

    def __init__(self, recipe: Recipe, workers: int, options: Any) -> None:
        self.recipe, self.workers, self.options = recipe, workers, options
        self.actors: list[Any] = []
        self.running: dict[Any, tuple[int, Job]] = {}  # object ref -> (actor, job)
        self.waiting: list[Job] = []
        self.started_ray = False

    def start(self) -> None:
        ray = _ray()
        if not ray.is_initialized():  # a test or a driver may have started Ray already
            ray.init(address=self.options.address, log_to_driver=False, configure_logging=False)
            self.started_ray = True
        self.actor_class = ray.remote(num_cpus=self.options.num_cpus, num_gpus=self.options.num_gpus)(RayWorker)
        self.actors = [self._actor() for _ in range(self.workers)]

    def _actor(self) -> Any:
        return self.actor_class.remote(self.recipe, max(1, int(self.options.num_cpus)))

    def submit(self, job: Job) -> None:
        busy = {index for index, _ in self.running.values()}
        free = [i for i in range(self.workers) if i not in busy]
        if not free:
            self.waiting.append(job)
            return
        self.running[self.actors[free[0]].evaluate.remote(job)] = (free[0], job)

    def next(self) -> Outcome:
        ray = _ray()
        (ref,), _ = ray.wait(list(self.running), num_returns=1)
        index, job = self.running.pop(ref)
        try:
            answer = ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                ray.exceptions.NodeDiedError, ray.exceptions.ObjectLostError) as exc:
            reason = f"its Ray actor died ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            log.warning("worker %d: %s", index, reason)
            self.actors[index] = self._actor()
            outcome = Outcome(job.ticket, index, self.now(), self.now(), lost=reason)
        else:
            outcome = Outcome(job.ticket, index, answer["started"], answer["finished"], answer.get("metrics") or {},
                              error=answer.get("error"))
        if self.waiting:
            self.submit(self.waiting.pop(0))
        return outcome

    def cancel(self) -> list[int]:
        ray = _ray()
        tickets = [job.ticket for _, job in self.running.values()] + [job.ticket for job in self.waiting]
        for index, _ in self.running.values():
            ray.kill(self.actors[index])
            self.actors[index] = self._actor()
        self.running, self.waiting = {}, []
        return tickets

    def close(self) -> None:
        ray = _ray()
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
        if self.started_ray:
            ray.shutdown()
