"""One live process per run directory: an exclusive flock on `<run dir>/.lock`, held while a
command runs, so two jobs (two searches started in the same second, two `resume=true` of one run)
never write into the same directory.

The kernel releases a flock when its process ends, however it ends (SIGKILL included), so a killed
run leaves no stale lock behind: the file stays, the lock does not.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from nascli.errors import NasError, StorageError

LOCK_FILE = ".lock"


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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"Cannot create {self.path}: {exc.strerror or exc}.") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise StorageError(f"Cannot lock {self.path}: {exc.strerror or exc}.") from None
            raise RunDirInUse(
                f"{self.path.parent} is in use by another nas process ({holder or 'pid unknown'}); nothing was "
                "written. Wait for it to end, or choose another directory (hydra.run.dir=...)."
            ) from None
        self.fd = fd
        # who holds it, for the message a second process prints (the lock itself is the flock)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, nas {self.command}, since {time.strftime('%H:%M:%S')}".encode())
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the flock; the file stays (unlinking it would race a newcomer)
            self.fd = None


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        return ""

