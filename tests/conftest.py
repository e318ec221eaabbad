"""Shared fixtures: one real CLI search, and runs reused by the tests that only read them."""

from __future__ import annotations

from pathlib import Path

import pytest
from nasrun import nas, read_json, run


@pytest.fixture(scope="session")
def smoke_search(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `nas search debug=smoke` through the real command line (Hydra writes .hydra/ and the log)."""
    cwd = tmp_path_factory.mktemp("smoke")
    run_dir = cwd / "search"
    result = nas("search", "debug=smoke", f"hydra.run.dir={run_dir}", cwd=cwd)
    assert result.code == 0, result.text
    return run_dir


@pytest.fixture(scope="session")
def smoke_retrain(smoke_search: Path) -> Path:
    """A `nas retrain debug=smoke` of the smoke search's genotype."""
    run_dir = smoke_search.parent / "retrain"
    result = run("retrain", "debug=smoke", f"genotype={smoke_search}", run_dir=run_dir)
    assert result.code == 0, result.text
    assert result.objective == read_json(run_dir / "report.json")["val_accuracy"]  # what a sweeper optimises
    return run_dir


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The suite's networks are tiny: one torch thread is fastest, and immune to a busy machine
    (two threads beside other work on a 2-core machine made such tests 10-20x slower)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def logging_left_as_it_was():
    """A Hydra app run in this process (nas search -m, nas report, ...) sets up its job's logging: a
    root handler at INFO onto the streams of the moment. Left behind, every later test's INFO lines
    went through it into a dead stream (pinned searches ran 10-15% slower after a README sweep)."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers and not type(handler).__module__.startswith("_pytest"):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)



@pytest.hookimpl(tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`: one worker more than this machine's CPUs. Many tests wait on processes they start
    (nas commands, sweeps' workers, torchrun, Ray): with as many workers as CPUs, 14% of the CPU
    time went unused (the whole suite used 1.72 of 2 cores; 1.94 with 3 workers, 456 s against
    about 500 s). PYTEST_XDIST_AUTO_NUM_WORKERS still decides where it is set."""
    import os

    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cpus + 1


# --- the order -n auto hands tests out in --------------------------------------------------------------------
SPREAD = ("tests/test_readme.py::test_every_command_of_the_block_works_as_written",)  # each test a unit of its own


def unit_of(nodeid: str) -> str:
    """What the order below keeps together: a test file, or a test of SPREAD (a README block) alone."""
    return nodeid if nodeid.startswith(SPREAD) else nodeid.split("::")[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """xdist (--dist load) hands tests out one by one in this order: the files with the most slow tests
    first, so that long tests start early and short ones fill the workers at the end (every slow
    test before any fast one measured slower: 460 s against 408 s with 3 workers). Measured on
    the whole suite on 2 cores: 500 s (609 s in a CI run), against 632 s for whole files per worker
    longest first and 803 s for whole files in xdist's own order, where both workers ran their
    heaviest, process-spawning tests at once."""
    slow: dict[str, int] = {}
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        unit = unit_of(item.nodeid)
        first.setdefault(unit, index)
        slow[unit] = slow.get(unit, 0) + (item.get_closest_marker("slow") is not None)
    items.sort(key=lambda item: (-slow[unit_of(item.nodeid)], first[unit_of(item.nodeid)]))
