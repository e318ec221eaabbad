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
