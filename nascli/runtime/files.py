"""Atomic writes: a temporary file in the same directory, then a rename, so that a killed run
never leaves a half-written genotype, report, table or checkpoint behind."""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from nascli.errors import StorageError


FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}        # no room: the disk, the user's quota, a file limit
DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}       # not ours to write: permissions, a read-only mount


def storage_error(path: Path, exc: OSError) -> StorageError:
    """What went wrong writing `path`, and what to do, as the StorageError a user sees (exit 74)."""
    cause = exc.strerror or str(exc)
    if exc.errno in FULL:
        hint = "Free some space (or quota) there, or write the run elsewhere (hydra.run.dir=..., paths.output_root=...)."
    elif exc.errno in DENIED:
        hint = ("The directory is read-only or not writable by this user: fix its permissions, or write the run "
                "elsewhere (hydra.run.dir=..., paths.output_root=...).")
    else:
        hint = "Check the disk and the directory, or write the run elsewhere (hydra.run.dir=...)."
    return StorageError(f"Cannot write {path}: {cause} [{errno.errorcode.get(exc.errno, exc.errno)}]. {hint} "
                        "Files written before are kept whole.")


def _umask() -> int:
    """This process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic(path: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Write through `write` into a temporary beside `path`, then rename it over `path`; a failure
    leaves the previous file whole, and a disk or permission failure is a StorageError."""
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_umask())  # an ordinary file's mode (mkstemp's 0600 hid results from the group)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None:
            raise storage_error(path, exc) from None
        raise
    return path


def remove_temporaries(folder: Path | str) -> list[Path]:
    """Delete what a killed writer left: the temporary files of writes that never reached their rename."""
    leftovers = sorted(Path(folder).glob(".*.tmp"))
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def write_streamed(path: Path | str, write: Callable[[IO[bytes]], None]) -> Path:
    """Atomically, whatever `write` writes into the handle it is given: for output produced piece by
    piece (a CSV batch by batch), so that a killed run leaves no half-written file."""
    return _atomic(Path(path), write)


def write_bytes(path: Path | str, data: bytes) -> Path:
    return _atomic(Path(path), lambda h: h.write(data))


def write_text(path: Path | str, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path | str, obj: Any) -> Path:
    return write_text(path, to_json_text(obj) + "\n")


def to_json_text(obj: Any, indent: int = 0) -> str:
    """JSON indented by 2 like json.dumps(indent=2), but a short list of plain values stays on one
    line, so a matrix reads as rows (a cell's adjacency, a layer list) instead of a number per line."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(obj, dict) and obj:
        items = (f"{inner}{json.dumps(str(k))}: {to_json_text(v, indent + 2)}" for k, v in obj.items())
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(obj, (list, tuple)) and obj:
        flat = json.dumps(obj, default=str)
        if len(flat) <= 80 and not any(isinstance(v, (dict, list, tuple)) and v for v in obj):
            return flat
        return "[\n" + ",\n".join(f"{inner}{to_json_text(v, indent + 2)}" for v in obj) + f"\n{pad}]"
    return json.dumps(obj, default=str)


def write_csv(path: Path | str, rows: Iterable[Mapping[str, Any]], columns: list[str]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return write_text(path, buf.getvalue())


def torch_save(path: Path | str, obj: Any) -> Path:
    """torch.save, atomically. Keep contents to tensors and plain containers (weights_only loads)."""
    import torch

    return _atomic(Path(path), lambda h: torch.save(obj, h))


def save_figure(path: Path | str, fig: Any) -> Path:
    """Save a matplotlib figure atomically as PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    return write_bytes(path, buf.getvalue())


# What a run directory holds before its command has made anything: the lock, Hydra's record and log,
# the report. A run that stops on a user mistake with nothing else written leaves no directory behind.
BOOKKEEPING = {".lock", ".hydra", "report.json", "report.md"}


def remove_if_only_bookkeeping(run_dir: Path, command: str, made: Path) -> bool:
    """Remove `run_dir` if it holds nothing but BOOKKEEPING and `<command>.log`, and the parents up to
    `made` (the outermost folder made for it) that are left empty; True if it did."""
    try:
        names = {p.name for p in run_dir.iterdir()}
    except OSError:
        return False
    if not names <= BOOKKEEPING | {f"{command}.log"}:
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir = run_dir.resolve()
    for parent in run_dir.parents:
        if not parent.is_relative_to(made):
            break
        with contextlib.suppress(OSError):  # not empty (another run's): kept
            parent.rmdir()
    return not run_dir.exists()
