"""GPU slots for the jobs of a sweep, with a fake GPU count: which GPU each job gets, that parallel
jobs never share a slot, and that a slot freed by a finished or killed job is taken again."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import time
from collections import Counter
from pathlib import Path

import pytest

from nascli.errors import ConfigError
from nascli.runtime.devices import Sweep, SlotLocks, assigned_device, place, slot_order


def test_single_runs_and_given_devices_take_no_slot(tmp_path: Path) -> None:
    with place("auto", 1, None, gpus=4) as single:
        assert (single.device, single.gpu_slot) == ("cuda", None) and assigned_device() is None
    with place("cuda:3", 1, Sweep(tmp_path, 0), gpus=4) as given:
        assert (given.device, given.gpu_slot) == ("cuda:3", None)
    with place("auto", 1, Sweep(tmp_path, 0), gpus=0) as no_gpu:
        assert no_gpu.device == "cpu" and "no GPU" in no_gpu.how
    assert not (tmp_path / ".gpu-slots").exists()


def test_sweep_jobs_with_room_land_on_different_gpus_before_any_gpu_takes_a_second(tmp_path: Path) -> None:
    assert slot_order(5, 4) == [1, 2, 3, 0]
    with place("auto", 2, Sweep(tmp_path, 0), gpus=2) as job0, place("auto", 2, Sweep(tmp_path, 1), gpus=2) as job1:
        assert (job0.device, job1.device) == ("cuda:0", "cuda:1")
        with place("auto", 2, Sweep(tmp_path, 2), gpus=2) as job2:
            assert (job2.device, job2.gpu_slot) == ("cuda:0", 2) and assigned_device() == "cuda:0"
        assert assigned_device() == "cuda:1"  # job1's again once job2's block ends
        assert job1.record()["how"].startswith("device=auto in a sweep: job 1 held free slot 1 of 4")


def test_a_freed_slot_is_reused_where_job_numbers_would_collide(tmp_path: Path) -> None:
    with place("auto", 1, Sweep(tmp_path, 0), gpus=2):
        pass  # job 0 finished early; job 1 still runs on GPU 1
    with place("auto", 1, Sweep(tmp_path, 1), gpus=2) as job1:
        with place("auto", 1, Sweep(tmp_path, 3), gpus=2) as job3:  # 3 % 2 == 1 is busy: GPU 0 is free
            assert (job1.device, job3.device) == ("cuda:1", "cuda:0")


def test_physical_names_come_from_cuda_visible_devices(tmp_path: Path) -> None:
    environ = {"CUDA_VISIBLE_DEVICES": "4,6"}
    with place("auto", 1, Sweep(tmp_path, 1), gpus=2, environ=environ) as job:
        assert job.device == "cuda:1" and "entry 6" in job.how
        assert (tmp_path / ".gpu-slots").rglob("gpu-6-place-0.lock")


def test_jobs_per_gpu_must_be_a_positive_whole_number(tmp_path: Path) -> None:
    for bad in (0, -1, 1.5, "two", True):
        with pytest.raises(ConfigError, match="jobs_per_gpu"), place("auto", bad, Sweep(tmp_path, 0), gpus=2):
            pass


def _job(sweep_dir: str, job_num: int, gpus: int, jobs_per_gpu: int, hold_s: float, log: dict, lock) -> None:
    """A sweep job: hold a slot for `hold_s`, noting what was held at the same time."""
    with place("auto", jobs_per_gpu, Sweep(Path(sweep_dir), job_num), gpus=gpus, poll_s=0.02) as where:
        with lock:
            log[job_num] = (where.gpu_slot, where.device, time.monotonic(), None)
        time.sleep(hold_s)
        with lock:
            log[job_num] = (*log[job_num][:3], time.monotonic())


@pytest.mark.parametrize("jobs_per_gpu", [1, 2])
def test_parallel_workers_hold_distinct_slots_and_wait_when_all_are_taken(tmp_path: Path, jobs_per_gpu: int) -> None:
    """8 jobs of uneven length on 4 workers and 2 fake GPUs: at no moment do two running jobs hold one
    slot, or does a GPU run more than jobs_per_gpu of them; with 2 slots for 4 workers, jobs wait."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        log, lock = manager.dict(), manager.Lock()
        with ctx.Pool(4) as pool:
            pool.starmap(_job, [(str(tmp_path), k, 2, jobs_per_gpu, 0.05 + 0.1 * (k % 3), log, lock)
                                for k in range(8)])
        spans = dict(log)
    assert sorted(spans) == list(range(8))
    moments = sorted(t for (_, _, start, end) in spans.values() for t in (start, end - 1e-6))
    for moment in moments:
        running = [(slot, device) for slot, device, start, end in spans.values() if start <= moment < end]
        assert len({slot for slot, _ in running}) == len(running)
        assert max(Counter(device for _, device in running).values(), default=0) <= jobs_per_gpu
        assert len(running) <= 2 * jobs_per_gpu
    assert {device for _, device, _, _ in spans.values()} == {"cuda:0", "cuda:1"}


def _hold_forever(sweep_dir: str) -> None:
    with place("auto", 1, Sweep(Path(sweep_dir), 0), gpus=1):
        time.sleep(60)


def test_a_killed_job_frees_its_slot(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    holder = ctx.Process(target=_hold_forever, args=(str(tmp_path),))
    holder.start()
    locks = SlotLocks(tmp_path / ".gpu-slots" / socket.gethostname(), gpus=1, jobs_per_gpu=1)
    deadline = time.monotonic() + 30
    while (handle := locks.try_claim(0)) is not None:  # until the started job holds it
        locks.release(handle)
        assert time.monotonic() < deadline, "the job never took its slot"
        time.sleep(0.05)
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()
    with place("auto", 1, Sweep(tmp_path, 5), gpus=1, poll_s=0.02) as next_job:
        assert (next_job.device, next_job.gpu_slot) == ("cuda:0", 0)


def test_a_sweep_job_resolves_device_auto_to_the_gpu_of_its_slot(tmp_path: Path, monkeypatch) -> None:
    """The runner's glue: place_run reads the config and Hydra's sweep, and resolve_device('auto')
    then names the held GPU (torch's own calls faked: there is no GPU here)."""
    import torch
    from omegaconf import OmegaConf

    from nascli.runtime import devices
    from nascli.runtime.common import resolve_device

    current: list[int] = []
    monkeypatch.setattr(devices, "visible_gpus", lambda: 2)
    monkeypatch.setattr(devices, "current_sweep", lambda: Sweep(tmp_path, 3))
    monkeypatch.setattr(torch.cuda, "set_device", current.append)
    cfg = OmegaConf.create({"device": "auto", "jobs_per_gpu": 2})
    with devices.place_run(cfg) as placement:
        assert (placement.device, placement.gpu_slot, current) == ("cuda:1", 3, [1])
        assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("auto") == torch.device("cpu")
    with devices.place_run(OmegaConf.create({"seed": 0})) as none:
        assert none is None  # a command without a device option
