"""Several processes started by torchrun: which one this is, the process group, and one run
directory for all of them.

torchrun sets WORLD_SIZE, RANK and LOCAL_RANK (and MASTER_ADDR/MASTER_PORT for the rendezvous); in a
Slurm job that the submitit launcher started with several tasks (hydra.launcher.nodes,
tasks_per_node), each task is one such process and they are set from Slurm's. Without them, or
with WORLD_SIZE=1, nothing here does anything. torch is imported only when a
group is started, so the CLI's help stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nascli.errors import ConfigError, NasError

# Hydra overrides for every process but rank 0: its run directory is the current one (Hydra creates
# nothing new), it saves no .hydra/ and logs no file; the runner then gives it rank 0's directory.
# Hydra resolves ${now:...} in each process, so the processes' own directories could differ.
WORKER_OVERRIDES = ["hydra.run.dir=.", "hydra.output_subdir=null", "hydra/job_logging=none"]


@dataclass(frozen=True)
class TorchrunProcess:
    """This process among those torchrun started: its rank, its rank on this node (its GPU there), and
    how many processes there are. The runner and the data-parallel training loop both use it."""

    rank: int
    local_rank: int
    size: int

    @property
    def main(self) -> bool:
        """Rank 0: the one process that prints and writes files."""
        return self.rank == 0


def from_slurm_tasks() -> bool:
    """In a Slurm job of several tasks started by submitit (hydra/launcher=submitit_slurm), set
    torchrun's variables from Slurm's, once: ranks from SLURM_PROCID/SLURM_LOCALID, the rendezvous on
    the job's first node (submitit's TorchDistributedEnvironment). Whether it did."""
    if "WORLD_SIZE" in os.environ or os.environ.get("SUBMITIT_EXECUTOR") != "slurm":
        return False
    try:
        if int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
            return False
    except ValueError:
        return False
    from submitit.helpers import TorchDistributedEnvironment  # present: submitit started this job

    TorchDistributedEnvironment().export(set_cuda_visible_devices=False)  # each task takes cuda:LOCAL_RANK
    return True


def this_process() -> TorchrunProcess | None:
    """This process as torchrun's variables describe it, or None for a single process."""
    from_slurm_tasks()
    names = ("WORLD_SIZE", "RANK", "LOCAL_RANK")
    if "WORLD_SIZE" not in os.environ:
        return None
    try:
        size, rank, local = (int(os.environ.get(name, "0")) for name in names)
    except ValueError:
        raise ConfigError("WORLD_SIZE, RANK and LOCAL_RANK must be integers (torchrun sets them); got "
                          + ", ".join(f"{n}={os.environ.get(n)!r}" for n in names) + ".") from None
    if size <= 1:
        return None
    if not 0 <= rank < size or local < 0:
        raise ConfigError(f"RANK={rank} and LOCAL_RANK={local} do not fit WORLD_SIZE={size}.")
    return TorchrunProcess(rank, local, size)


def check_command(command: str, module: Any, here: TorchrunProcess) -> None:
    """A NasError unless the command's module says it trains data-parallel (DATA_PARALLEL = True)."""
    if not getattr(module, "DATA_PARALLEL", False):
        raise NasError(f"nas {command} runs in one process; torchrun (WORLD_SIZE={here.size}) is for nas retrain.")


def worker_overrides() -> list[str]:
    """The Hydra overrides this process adds to the command line (none but on ranks above 0)."""
    here = this_process()
    return WORKER_OVERRIDES if here is not None and not here.main else []


def start(here: TorchrunProcess) -> None:
    """Join the process group: gloo for CPU tensors, and NCCL for CUDA tensors where there is a GPU
    (each process on cuda:LOCAL_RANK)."""
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    backend = "gloo"
    if torch.cuda.is_available():
        if here.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"This process is LOCAL_RANK={here.local_rank}, but the machine has "
                              f"{torch.cuda.device_count()} GPU(s): start at most that many per node "
                              "(torchrun --nproc_per_node).")
        torch.cuda.set_device(here.local_rank)
        backend = "cpu:gloo,cuda:nccl"
    dist.init_process_group(backend=backend)


def stop() -> None:
    """Leave the process group (no-op when none was started)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def share(value: Any) -> Any:
    """Rank 0's `value`, in every process (a broadcast over the CPU backend)."""
    import torch
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0, device=torch.device("cpu"))
    return box[0]


class StoppedByRankZero(NasError):
    """Rank 0 refused the run before it began and said why; the other processes stop quietly."""


def agree_on_run_dir(here: TorchrunProcess, run_dir: Path, check: Callable[[Path], None]) -> Path:
    """Rank 0's run directory, in every process, once `check` accepted it in rank 0. If it refused it,
    rank 0 raises its error and the other processes StoppedByRankZero (none of them waits forever)."""
    error: NasError | None = None
    if here.main:
        try:
            check(run_dir)
        except NasError as exc:
            error = exc
    shared, refused = share((str(run_dir), error is not None))
    if error is not None:
        raise error
    if refused:
        raise StoppedByRankZero("rank 0 refused the run directory")
    return Path(shared)


def device_for(here: TorchrunProcess, device: Any) -> Any:
    """The device of this process: cuda:LOCAL_RANK when training on CUDA, the given one otherwise."""
    import torch

    if device.type != "cuda":
        return device
    if device.index not in (None, here.local_rank):
        raise ConfigError(f"Under torchrun each process uses cuda:LOCAL_RANK; device={device} names one GPU. "
                          "Use device=cuda or device=auto (CUDA_VISIBLE_DEVICES picks the GPUs).")
    return torch.device("cuda", here.local_rank)
