"""One live process per run directory: an exclusive flock on `<run dir>/.lock`, held while a
command runs, so two jobs (two searches started in the same second, two `resume=true` of one run)
never write into the same directory. `HoldRunDir`, a Hydra callback (conf/hydra/default.yaml),
takes it before Hydra writes `.hydra/` and the log, and a sweep's folder for the whole sweep.

The kernel releases a flock when its process ends, however it ends (SIGKILL included), so a killed
run leaves no stale lock behind: the file stays, the lock does not.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from hydra.experimental.callback import Callback

from nascli.errors import NasError
from nascli.runtime.console import print_error
from nascli.runtime.files import storage_error

LOCK_FILE = ".lock"
_HELD: dict[Path, int] = {}  # folders this process holds, and their lock's file descriptor
_MADE: dict[Path, Path] = {}  # run directories this process made -> the outermost folder it made for them


class RunDirInUse(NasError):
    """Another live process holds the run directory."""


class RunLock:
    """`with RunLock(run_dir, command):` holds the run directory for this process, or raises
    RunDirInUse naming the process that holds it."""

    def __init__(self, run_dir: Path | str, command: str) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self.command = command
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        key = self.path.parent.resolve()
        if key in _HELD:  # taken already by this process (HoldRunDir, before Hydra wrote): keep it
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise storage_error(self.path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise storage_error(self.path, exc) from None
            raise RunDirInUse(
                f"{self.path.parent} is in use by another nas process ({holder or 'pid unknown'}); nothing was "
                "written. Wait for it to end, or choose another directory (hydra.run.dir=...)."
            ) from None
        self.fd = fd
        _HELD[key] = fd
        # who holds it, for the message a second process prints (the lock itself is the flock)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, nas {self.command}, since {time.strftime('%H:%M:%S')}".encode())
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.fd is not None:
            _HELD.pop(self.path.parent.resolve(), None)
            os.close(self.fd)  # releases the flock; the file stays (unlinking it would race a newcomer)
            self.fd = None


def made_by_this_process(folder: Path) -> Path | None:
    """The outermost folder this process made for the run directory `folder` (`folder` itself, or a
    parent that did not exist either); None if `folder` existed before the run."""
    return _MADE.get(folder.resolve())


def hold_until_exit(folder: Path | str, command: str) -> None:
    """Hold `folder` for the rest of this process (the kernel releases it when the process ends)."""
    RunLock(folder, command).__enter__()


class HoldRunDir(Callback):
    """Hydra callback: before Hydra writes anything, hold the run directory (a single run) or the
    sweep folder (a multirun), and refuse a run directory holding an earlier run's results unless
    resuming it. A refusal is one message and exit 2 (74 for a directory that cannot be written)."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        from nascli.runtime.torchrun import this_process

        here = this_process()
        if here is not None and not here.main:
            return  # under torchrun only rank 0 writes; it holds the directory
        folder = Path(str(config.hydra.run.dir)).resolve()
        made = [f for f in (folder, *folder.parents) if not f.exists()]  # outputs/<date>/ too, the first run that day
        self._hold(folder, config, check_results=True)
        if made:
            _MADE[folder] = made[-1]

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        self._hold(Path(str(config.hydra.sweep.dir)), config, check_results=False)

    @staticmethod
    def _hold(folder: Path, config: Any, check_results: bool) -> None:
        command = str(config.hydra.job.config_name)
        try:
            if check_results and (folder / "report.json").exists() and not config.get("resume", False):
                raise NasError(f"{folder} already holds the results of an earlier run; nothing was overwritten.\n"
                               "Choose another directory (hydra.run.dir=...) or, for `nas search`, `nas retrain` and "
                               "`nas meta-train`, continue it with resume=true.")
            if not check_results and (folder / "multirun.yaml").exists() and _basic_sweeper(config):
                # Hydra's own sweeper would overwrite multirun.yaml and run job 0 again into 0/ (an Optuna
                # sweep continues its study in the same folder: that one is left to go on)
                raise NasError(f"{folder} already holds an earlier sweep; nothing was overwritten. Choose another "
                               "folder (hydra.sweep.dir=...).")
            hold_until_exit(folder, command)
        except NasError as exc:
            print_error(command, str(exc))
            sys.exit(exc.exit_code)


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        return ""


def _basic_sweeper(config: Any) -> bool:
    """Whether the sweep is Hydra's basic sweeper (a grid of -m overrides), which never continues one."""
    target = str(config.hydra.sweeper.get("_target_", ""))
    return target.endswith("BasicSweeper")
