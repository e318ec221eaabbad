"""Where a local worker trains: a GPU slot as a sweep's job takes one (jobs_per_gpu applies), or on
CPU its share of the search's threads; and the recipe a worker builds its evaluator from."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import torch
from configured import space

from nascli.runtime import devices
from nascli.runtime.config import option_node, plain
from nascli.search.executors.local import cpu_share
from nascli.search.executors.worker import Recipe, placed

NB201 = space("nb201")


def recipe(device: str, jobs_per_gpu: int) -> Recipe:
    return Recipe(NB201, 0, device, jobs_per_gpu, plain(option_node("evaluator", "train")),
                  plain(option_node("trainer", "proxy")), plain(option_node("dataset", "digits")))


@pytest.mark.parametrize(("gpus", "jobs_per_gpu", "expected"), [(2, 1, ["cuda:0", "cuda:1"]), (1, 2, ["cuda:0", "cuda:0"])])
def test_workers_hold_gpu_slots_as_sweep_jobs_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, gpus: int,
                                                 jobs_per_gpu: int, expected: list[str]) -> None:
    monkeypatch.setattr(devices, "visible_gpus", lambda: gpus)  # a machine with `gpus` GPUs, as far as slots go
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: None)
    with contextlib.ExitStack() as held:
        got = [str(held.enter_context(placed(recipe("auto", jobs_per_gpu), tmp_path, index, threads=1)))
               for index in range(2)]
    assert got == expected
    assert len(list((tmp_path / devices.LOCK_FOLDER).rglob("*.lock"))) == 2  # one slot each, under the run dir


def test_on_cpu_each_worker_takes_its_share_of_the_threads(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        assert cpu_share(2) == 2 and cpu_share(8) == 1
        with placed(recipe("cpu", 1), tmp_path, 0, threads=2) as device:
            assert device.type == "cpu" and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_worker_builds_the_searchs_evaluator_from_the_recipe() -> None:
    evaluator = recipe("cpu", 1).build(torch.device("cpu"))
    assert evaluator.name == "train" and evaluator.context.space is not None
    assert evaluator.context.trainer.epochs >= 1
