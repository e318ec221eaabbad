"""Shared fixtures: one real CLI search, and runs reused by the tests that only read them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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



# --- how -n auto spreads the suite over workers ------------------------------------------------------------
SPREAD = ("tests/test_readme.py::test_every_command_of_the_block_works_as_written",)  # each test a unit of its own


def unit_of(nodeid: str) -> str:
    """A test's unit of work: its file, so that a module's fixtures (a real search, a sweep) are
    made once; a test of SPREAD (a README block, each tens of seconds) is a unit of its own, so
    that the blocks spread over the workers instead of running one after another on one."""
    return nodeid if nodeid.startswith(SPREAD) else nodeid.split("::")[0]


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist hands out whole units (unit_of), those with the most tests first (its loadscope order)."""
    from xdist.scheduler import LoadScopeScheduling

    class Units(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

    return Units(config, log)
