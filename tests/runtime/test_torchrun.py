"""Which process of a data-parallel run this is: torchrun's variables, or a Slurm job's tasks when
the submitit launcher starts one run on several nodes."""

from __future__ import annotations

import pytest

from nascli.runtime.torchrun import TorchrunProcess, this_process

TORCH = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def slurm_task(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Task 5 of 8 (the second of 4 on node gpu08) of a Slurm job submitit started; torch's variables
    unset, and restored after the test."""
    pytest.importorskip("submitit", reason='the Slurm launcher\'s extra (pip install "nascli[slurm]")')
    for name in TORCH:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    for name, value in {"SUBMITIT_EXECUTOR": "slurm", "SLURM_JOB_ID": "4242", "SLURM_NTASKS": "8",
                        "SLURM_JOB_NUM_NODES": "2", "SLURM_NODEID": "1", "SLURM_PROCID": "5", "SLURM_LOCALID": "1",
                        "SLURM_JOB_NODELIST": "gpu[07-08]"}.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_a_slurm_task_started_by_submitit_is_one_process_of_the_run(slurm_task: pytest.MonkeyPatch) -> None:
    import os

    assert this_process() == TorchrunProcess(rank=5, local_rank=1, size=8)
    assert os.environ["MASTER_ADDR"] == "gpu07" and 20000 <= int(os.environ["MASTER_PORT"]) <= 60000
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"  # each task picks cuda:LOCAL_RANK itself
    assert this_process() == TorchrunProcess(rank=5, local_rank=1, size=8)  # asked again: the same


def test_a_slurm_job_of_one_task_is_a_single_process(slurm_task: pytest.MonkeyPatch) -> None:
    import os

    slurm_task.setenv("SLURM_NTASKS", "1")
    assert this_process() is None and "WORLD_SIZE" not in os.environ
    slurm_task.setenv("SLURM_NTASKS", "8")
    slurm_task.setenv("SUBMITIT_EXECUTOR", "local")  # submitit_local's jobs: never several tasks of one run
    assert this_process() is None
