"""What one test run builds once for all its xdist workers (a sweep, runs to report on)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def built_once(tmp_path_factory: pytest.TempPathFactory, worker_id: str, name: str,
               build: Callable[[Path], None]) -> Path:
    """A folder `name` that `build` fills once for the whole test run, then only read. Under xdist the
    first worker to ask builds it and the others wait for it (a file lock) instead of each building
    its own: tests of one module are handed to every worker (--dist load), and a module fixture was
    built by each of them (a 20 s sweep three times)."""
    from filelock import FileLock

    if worker_id == "master":  # no xdist: this process alone
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    root = tmp_path_factory.getbasetemp().parent  # this run's, shared by its workers
    folder = root / name
    with FileLock(str(root / f"{name}.lock")):
        if not (folder / ".built").exists():
            shutil.rmtree(folder, ignore_errors=True)  # a build that failed half-way
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder
