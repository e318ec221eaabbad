"""Which GPU a job of a local sweep trains on: a free slot among the visible GPUs, held while it runs.

With `device=auto` in a sweep (`-m`) and several visible GPUs, the GPUs offer `jobs_per_gpu` slots
each. A job claims a free slot, a lock file under `<sweep dir>/.gpu-slots/<host>/`, and holds it until
it ends; its GPU is `slot % gpus`, so the first jobs land on different GPUs before any GPU takes a
second. Job numbers alone would be wrong: with n_jobs workers, a job starting after a quick one
finished would reuse a number's GPU while another GPU stands idle. A lock held with flock() is
freed by the kernel when its holder dies, even by SIGKILL, so a killed job never keeps a slot.
When every slot is taken the job waits for one: `jobs_per_gpu` is a cap, not a hint.

A single run uses torch's current GPU (cuda:0) as before, and `device=cuda:N` or `cpu` is obeyed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from nascli.errors import ConfigError

log = logging.getLogger("nascli")

_ASSIGNED: ContextVar[str | None] = ContextVar("nascli_assigned_gpu", default=None)
LOCK_FOLDER = ".gpu-slots"


@dataclass(frozen=True)
class Sweep:
    """This job's place in a sweep: the sweep's folder (shared by its jobs) and the job's number."""

    dir: Path
    job_num: int


@dataclass(frozen=True)
class Placement:
    """Where a run trains and why; report.json's `placement`."""

    device: str            # cuda:N for a job given a GPU slot; otherwise the `device` option as given
    gpu_slot: int | None   # the slot held (None: no slot was needed)
    gpus: int              # GPUs visible to this process (CUDA_VISIBLE_DEVICES honoured)
    jobs_per_gpu: int
    how: str               # in words, for people reading the report

    def record(self) -> dict[str, Any]:
        return asdict(self)


def assigned_device() -> str | None:
    """The GPU (cuda:N) this job holds a slot for, or None outside a held slot."""
    return _ASSIGNED.get()


def visible_gpus() -> int:
    """How many GPUs torch sees here (CUDA_VISIBLE_DEVICES already narrows this)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def physical_gpu(index: int, environ: dict[str, str] | None = None) -> str:
    """The name CUDA_VISIBLE_DEVICES gives visible GPU `index` (nvidia-smi's number or UUID)."""
    listed = (environ if environ is not None else os.environ).get("CUDA_VISIBLE_DEVICES")
    names = [n.strip() for n in listed.split(",") if n.strip()] if listed else []
    return names[index] if index < len(names) else str(index)


def check_jobs_per_gpu(value: Any) -> int:
    """`jobs_per_gpu` as a positive int, or a clear error."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"jobs_per_gpu must be a whole number of at least 1, got {value!r}.")
    return value


def slot_order(job_num: int, slots: int) -> list[int]:
    """The slots a job tries, in order: its own number's slot first (so a sweep with room for every
    job places job k on GPU k % gpus, repeatably), then the others."""
    first = job_num % slots
    return [(first + i) % slots for i in range(slots)]


class SlotLocks:
    """One lock file per slot in `folder`; a slot is taken while some process holds its flock.

    Slot s is place s // gpus on GPU s % gpus, and its file is named after the GPU's physical name
    (CUDA_VISIBLE_DEVICES), so jobs given different GPUs on one node (as Slurm does) never wait for
    each other, and jobs sharing a GPU count against the same places."""

    def __init__(self, folder: Path, gpus: int, jobs_per_gpu: int, environ: dict[str, str] | None = None) -> None:
        self.folder, self.gpus, self.slots = Path(folder), gpus, gpus * jobs_per_gpu
        self.names = [re.sub(r"[^A-Za-z0-9._-]", "_", physical_gpu(i, environ)) for i in range(gpus)]

    def path(self, slot: int) -> Path:
        """The lock file of `slot`."""
        return self.folder / f"gpu-{self.names[slot % self.gpus]}-place-{slot // self.gpus}.lock"

    def try_claim(self, slot: int) -> IO[bytes] | None:
        """The open, locked file of `slot`, or None if another job holds it."""
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        handle = open(self.path(slot), "a+b")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        except BaseException:
            handle.close()
            raise
        return handle

    def claim(self, job_num: int, poll_s: float = 0.5,
              on_wait: Callable[[], None] | None = None) -> tuple[int, IO[bytes]]:
        """A free slot and its lock, waiting (polling every `poll_s`) while all are taken."""
        waited = False
        while True:
            for slot in slot_order(job_num, self.slots):
                handle = self.try_claim(slot)
                if handle is not None:
                    return slot, handle
            if not waited and on_wait is not None:
                on_wait()
            waited = True
            time.sleep(poll_s)

    @staticmethod
    def release(handle: IO[bytes]) -> None:
        """Free the slot (closing the file drops its flock)."""
        handle.close()


@contextlib.contextmanager
def place(device: str, jobs_per_gpu: int, sweep: Sweep | None, gpus: int,
          environ: dict[str, str] | None = None, poll_s: float = 0.5) -> Iterator[Placement]:
    """Choose where this run trains and hold its GPU slot (if any) until the block ends.

    `gpus` is the number of visible GPUs (visible_gpus(); tests pass a fake count). Inside the block
    assigned_device() names the chosen GPU, which resolve_device('auto') then returns.
    """
    jobs_per_gpu = check_jobs_per_gpu(jobs_per_gpu)
    name = str(device) if device is not None else "auto"
    common = {"gpus": gpus, "jobs_per_gpu": jobs_per_gpu}
    if name != "auto":
        yield Placement(name, None, how=f"device={name} was given, so no GPU slot was chosen", **common)
        return
    if gpus == 0:
        yield Placement("cpu", None, how="device=auto and no GPU is visible: cpu", **common)
        return
    if sweep is None:
        yield Placement("cuda", None, how="device=auto in a single run: torch's current GPU (cuda:0)", **common)
        return
    locks = SlotLocks(Path(sweep.dir) / LOCK_FOLDER / socket.gethostname(), gpus, jobs_per_gpu, environ)
    slots = locks.slots
    try:
        slot, handle = locks.claim(sweep.job_num, poll_s, on_wait=lambda: log.info(
            "All %d GPU slots (%d GPU(s) x jobs_per_gpu=%d) are taken; job %d waits for one to free.",
            slots, gpus, jobs_per_gpu, sweep.job_num))
    except (ImportError, OSError) as exc:  # no fcntl (Windows), or a file system without flock
        slot, handle = sweep.job_num % slots, None
        how = f"job {sweep.job_num} took slot job_num % {slots} = {slot}, unlocked ({type(exc).__name__}: {exc})"
    else:
        how = (f"device=auto in a sweep: job {sweep.job_num} held free slot {slot} of {slots} "
               f"({gpus} GPU(s) x jobs_per_gpu={jobs_per_gpu}), lock {locks.path(slot)}")
    index = slot % gpus
    how += f"; GPU {index} is CUDA_VISIBLE_DEVICES entry {physical_gpu(index, environ)}"
    token = _ASSIGNED.set(f"cuda:{index}")
    try:
        yield Placement(f"cuda:{index}", slot, how=how, **common)
    finally:
        _ASSIGNED.reset(token)
        if handle is not None:
            SlotLocks.release(handle)


def current_sweep() -> Sweep | None:
    """This job's sweep when Hydra runs it as part of one (-m), else None."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return None
    return Sweep(Path(hc.sweep.dir), int(hc.job.num))


@contextlib.contextmanager
def place_run(cfg: Any) -> Iterator[Placement | None]:
    """place() for a command's config (None for a command without a `device` option): the real GPU
    count and Hydra's sweep; the held GPU also becomes torch's current one, for code that says 'cuda'."""
    if "device" not in cfg:
        yield None
        return
    device = cfg.get("device")
    jobs = check_jobs_per_gpu(cfg.get("jobs_per_gpu", 1))
    sweep = current_sweep()
    with place(device, jobs, sweep, visible_gpus()) as placement:
        if placement.gpu_slot is not None:
            import torch

            torch.cuda.set_device(int(placement.device.split(":")[1]))
        yield placement
