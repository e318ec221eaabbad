"""What a worker is given once, and how it evaluates the jobs sent to it.

A `Recipe` says how to build the search's evaluator on a worker: its config (evaluator, trainer,
dataset nodes, as plain containers), the settled space, the seed and where to train. It is sent
once per worker; the worker builds the evaluator itself and opens the data there, on first use,
so no dataset is ever pickled, let alone once per candidate. A worker then evaluates one job at a
time and answers with what `evaluate` returns.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nascli.errors import NasError
from nascli.evaluators.base import EvalContext, Evaluator
from nascli.search.executors.base import Job
from nascli.search.executors.scoring import score
from nascli.spaces.base import SearchSpace


@dataclass(frozen=True)
class Recipe:
    """How a worker builds the search's evaluator (see the module docstring)."""

    space: SearchSpace
    seed: int
    device: str          # the search's `device` option: auto takes a GPU slot per worker where there are GPUs
    jobs_per_gpu: int    # workers sharing each GPU at once (the sweeps' option)
    evaluator: dict[str, Any]
    trainer: dict[str, Any]
    dataset: dict[str, Any]

    def build(self, device: Any) -> Evaluator:
        """The evaluator, on `device`; its data are loaded here, on first use."""
        from omegaconf import OmegaConf

        from nascli.runtime.config import build

        load_data = functools.cache(lambda: build(OmegaConf.create(self.dataset), "dataset"))
        trainer = build(OmegaConf.create(self.trainer), "trainer")
        context = EvalContext(self.space, self.seed, device, trainer, load_data)
        return build(OmegaConf.create(self.evaluator), "evaluator", context=context)


@contextlib.contextmanager
def placed(recipe: Recipe, slot_dir: Path, index: int, threads: int) -> Iterator[Any]:
    """Where worker `index` trains, held while it lives: with device=auto and GPUs, a free GPU slot
    under `slot_dir` as a sweep's job takes one (nascli.runtime.devices; jobs_per_gpu applies);
    on CPU, `threads` torch threads, its share of the machine."""
    import torch

    from nascli.runtime.common import resolve_device
    from nascli.runtime.devices import Sweep, place, visible_gpus

    with place(recipe.device, recipe.jobs_per_gpu, Sweep(slot_dir, index), visible_gpus()) as placement:
        if placement.gpu_slot is not None:
            torch.cuda.set_device(int(placement.device.split(":")[1]))
        device = resolve_device(recipe.device)
        if device.type == "cpu":
            torch.set_num_threads(threads)
        yield device


def evaluate(evaluator: Evaluator, job: Job) -> dict[str, Any]:
    """One job's answer: its metrics and wall-clock start and end, or the error that ends the search
    (sendable: see there)."""
    started = time.time()
    try:
        metrics = score(evaluator, job.arch, job.fidelity)
    except Exception as exc:  # noqa: BLE001 - the engine re-raises it in the search's process
        return {"ticket": job.ticket, "started": started, "finished": time.time(), "error": sendable(exc),
                "pid": os.getpid()}
    return {"ticket": job.ticket, "started": started, "finished": time.time(), "metrics": metrics, "pid": os.getpid()}


def sendable(exc: BaseException) -> BaseException:
    """nascli's own errors as they are (plain exceptions with a message, which pickle); any other as a
    NasError with its type and text, so none fails to cross the process boundary or ends in a traceback."""
    return exc if isinstance(exc, NasError) else NasError(f"{type(exc).__name__}: {exc}")
