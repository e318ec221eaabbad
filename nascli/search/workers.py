"""search.workers and search.executor: how many candidates are evaluated at once, and by whom.

One worker (the default) is the engine's own process, one candidate after another, as always.
More: `local` worker processes on this machine (a GPU slot or a share of the CPU threads each),
`ray` actors on a Ray cluster, `submitit` jobs (one Slurm job per candidate), or `simulated`: a
benchmark table's training times on a simulated clock (nascli.search.executors.simulated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nascli.errors import ConfigError
from nascli.evaluators.base import Evaluator
from nascli.search.executors.base import Executor
from nascli.search.executors.simulated import SimulatedClock
from nascli.search.executors.worker import Recipe


@dataclass
class RayOptions:
    """search.ray: where the Ray cluster is and what each worker (an actor) reserves."""

    address: str | None
    num_cpus: float
    num_gpus: float


@dataclass
class SubmititOptions:
    """search.submitit: the Slurm job each candidate runs as (the submitit launcher preset's keys)."""

    cluster: Literal["slurm", "local", "debug"]
    folder: str | None
    timeout_min: int
    cpus_per_task: int | None
    gpus_per_node: int | None
    mem_gb: float | None
    partition: str | None
    qos: str | None
    account: str | None
    constraint: str | None
    setup: list[str] | None
    additional_parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class WorkerOptions:
    """conf/search.yaml's `search` block (its YAML holds the defaults)."""

    workers: int
    executor: Literal["local", "ray", "submitit", "simulated"]
    retries: int
    cancel_on_stop: bool
    ray: RayOptions
    submitit: SubmititOptions

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"search.workers must be at least 1, got {self.workers}.")
        if self.retries < 0:
            raise ConfigError(f"search.retries must be 0 or more, got {self.retries}.")


def executor_for(options: WorkerOptions, evaluator: Evaluator, recipe: Recipe | None, run_dir: Path) -> Executor | None:
    """The executor `options` ask for; None: this process, one candidate at a time (search.workers=1
    with the local executor, exactly the search there was before workers)."""
    if options.executor == "simulated":
        return SimulatedClock(evaluator, options.workers)
    if options.workers == 1 and options.executor == "local":
        return None
    if recipe is None:
        raise ConfigError(f"search.executor={options.executor} builds the evaluator on its workers from the config; "
                          "this search was not assembled from one.")
    if options.executor == "local":
        from nascli.search.executors.local import LocalProcesses

        return LocalProcesses(recipe, options.workers, Path(run_dir))
    if options.executor == "ray":
        from nascli.search.executors.ray_actors import RayActors

        return RayActors(recipe, options.workers, options.ray)
    from nascli.search.executors.submitit_jobs import SubmititJobs

    return SubmititJobs(recipe, options.workers, options.submitit, Path(run_dir))
