"""Decode once: image files decoded in parallel into one memory-mapped uint8 array, cached.

The cache lives under the dataset's `cache_dir`, named by a hash of the files' paths, sizes and
mtimes and the preprocessing, so a changed, added or removed file (or another image_size) decodes
afresh and a second run memory-maps the array and starts in seconds. Each entry is a `.npy` array
(one row per file, zeros for files that could not be used) and a `.json` record written last:
an entry without its record, with a record of another format, or whose array is shorter than the
record says, is not trusted; it is decoded again.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nascli.data.images import GRAY_MODES, BadImage, Preprocess, decode_with_mode
from nascli.errors import DatasetError, StorageError

FORMAT = "nascli.decoded/1"


@dataclass
class Decoded:
    """Decoded files: `images` (N, C, S, S) uint8, memory-mapped from the cache, one row per file;
    `bad` maps a file's index to why it could not be used (its row is zeros)."""

    images: np.ndarray
    sums: np.ndarray               # (N, C, 2) float64: each row's per-channel sum and sum of squares
    bad: dict[int, str]
    modes: dict[str, int]          # how many files came in each Pillow mode
    channels: int                  # what channels=auto settled to (or what was asked)
    path: Path                     # the cache entry's array
    hit: bool                      # read from the cache, not decoded now
    seconds: float                 # decoding (or opening) took this long
    facts: dict[str, Any] = field(default_factory=dict)


def cache_key(files: Sequence[Path], image_size: int, resize: str, channels: int | None) -> str:
    """A hash of what decides the decoded array: every file's path, size and mtime, and the options."""
    digest = hashlib.sha256(json.dumps([FORMAT, image_size, resize, channels]).encode())
    for path in files:
        try:
            st = path.stat()
            digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:  # a broken link: part of the key as it is, decoding reports it
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()[:24]


def _decode_chunk(out: str, shape: tuple[int, ...], start: int, files: list[str], pre: Preprocess) -> tuple[dict[int, str], Counter]:
    """Decode `files` into rows start.. of the array at `out` (a worker's share); bad files and modes back."""
    rows = np.lib.format.open_memmap(out, mode="r+")
    sums = np.lib.format.open_memmap(_sums_path(Path(out)), mode="r+")
    bad: dict[int, str] = {}
    modes: Counter = Counter()
    for offset, name in enumerate(files):
        path = Path(name)
        try:
            image, mode = decode_with_mode(path, pre)
        except BadImage as exc:
            bad[start + offset] = str(exc)
            continue
        rows[start + offset] = image
        wide = image.reshape(image.shape[0], -1).astype(np.float64)
        sums[start + offset, :, 0], sums[start + offset, :, 1] = wide.sum(axis=1), (wide * wide).sum(axis=1)
        modes[mode] += 1
    rows.flush()
    sums.flush()
    del rows, sums
    return bad, modes


def _decode_all(files: Sequence[Path], pre: Preprocess, out: Path, workers: int, label: str) -> tuple[dict[int, str], Counter]:
    """Every file decoded into the array at `out`, `workers` processes at a time, with a progress bar."""
    from rich import get_console

    from nascli.runtime.console import progress

    n = len(files)
    shape = (n, pre.channels, pre.image_size, pre.image_size)
    array = np.lib.format.open_memmap(out, mode="w+", dtype=np.uint8, shape=shape)
    sums = np.lib.format.open_memmap(_sums_path(out), mode="w+", dtype=np.float64, shape=(n, pre.channels, 2))
    del array, sums
    chunk = max(8, min(256, -(-n // max(1, workers * 16))))
    parts = [(start, [str(f) for f in files[start:start + chunk]]) for start in range(0, n, chunk)]
    bad: dict[int, str] = {}
    modes: Counter = Counter()
    with progress(get_console()) as bar:
        task = bar.add_task(label, total=n, info="")
        if workers <= 1:
            for start, names in parts:
                b, m = _decode_chunk(str(out), shape, start, names, pre)
                bad.update(b)
                modes.update(m)
                bar.update(task, advance=len(names), info=f"{len(bad)} bad" if bad else "")
        else:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                futures = {pool.submit(_decode_chunk, str(out), shape, start, names, pre): len(names) for start, names in parts}
                for future in as_completed(futures):
                    b, m = future.result()
                    bad.update(b)
                    modes.update(m)
                    bar.update(task, advance=futures[future], info=f"{len(bad)} bad" if bad else "")
    return bad, modes


def _sums_path(array_path: Path) -> Path:
    """Where the per-row channel sums of a cache array live (beside it)."""
    return array_path.with_name(array_path.name[: -len(".npy")] + ".sums.npy")


def _read_entry(array_path: Path, record_path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    """A cache entry memory-mapped, or None when it is absent, incomplete, truncated or of another format."""
    if not (array_path.is_file() and record_path.is_file()):
        return None
    try:
        record = json.loads(record_path.read_text())
        if record.get("format") != FORMAT:
            return None
        images = np.load(array_path, mmap_mode="r", allow_pickle=False)
        sums = np.load(_sums_path(array_path), mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, json.JSONDecodeError):  # a truncated array or record: numpy and json say so
        return None
    shape = list(record.get("shape", []))
    if images.dtype != np.uint8 or list(images.shape) != shape or list(sums.shape) != [*shape[:2], 2]:
        return None
    return images, sums, record


def decode_files(files: Sequence[Path], image_size: int, resize: str, channels: int | None, cache_dir: str | Path,
                 workers: int, label: str = "decoding images") -> Decoded:
    """`files` decoded to (N, C, image_size, image_size) uint8, from the cache when it holds them.

    channels None is `auto`: decoded as RGB, then kept as one channel when every file was grayscale."""
    started = time.perf_counter()
    folder = Path(cache_dir).expanduser()
    key = cache_key(files, image_size, resize, channels)
    array_path, record_path = folder / f"{key}.npy", folder / f"{key}.json"
    entry = _read_entry(array_path, record_path)
    if entry is not None:
        images, sums, record = entry
        return Decoded(images, sums, {int(k): v for k, v in record["bad"].items()}, record["modes"], int(record["channels"]),
                       array_path, True, time.perf_counter() - started)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in (record_path, array_path, _sums_path(array_path)):  # an untrusted entry goes before a new one is written
            stale.unlink(missing_ok=True)
        tmp = folder / f"{key}.{os.getpid()}.tmp.npy"
        pre = Preprocess(image_size, resize, 3 if channels is None else channels)
        bad, modes = _decode_all(files, pre, tmp, max(1, workers), label)
        settled = pre.channels
        if channels is None and modes and all(mode in GRAY_MODES for mode in modes):
            settled = 1
            wide = np.load(tmp, mmap_mode="r")
            narrow_tmp = folder / f"{key}.{os.getpid()}.tmp1.npy"
            narrow = np.lib.format.open_memmap(narrow_tmp, mode="w+", dtype=np.uint8, shape=(len(files), 1, image_size, image_size))
            for start in range(0, len(files), 4096):
                narrow[start:start + 4096] = wide[start:start + 4096, :1]
            narrow.flush()
            del narrow, wide
            os.replace(narrow_tmp, tmp)
            np.save(_sums_path(tmp), np.load(_sums_path(tmp))[:, :1])
        os.replace(_sums_path(tmp), _sums_path(array_path))
        os.replace(tmp, array_path)
        record = {"format": FORMAT, "shape": [len(files), settled, image_size, image_size], "channels": settled,
                  "resize": resize, "files": len(files), "bad": {str(k): v for k, v in sorted(bad.items())},
                  "modes": dict(sorted(modes.items())), "first_file": str(files[0]) if files else None}
        tmp_record = folder / f"{key}.{os.getpid()}.tmp.json"
        tmp_record.write_text(json.dumps(record, indent=1))
        os.replace(tmp_record, record_path)
    except OSError as exc:
        raise StorageError(f"Cannot write the decoded-image cache in {folder} ({exc}). Free some space there or point "
                           "dataset.cache_dir (or paths.cache_dir) at a writable folder with room.") from None
    entry = _read_entry(array_path, record_path)
    if entry is None:
        raise DatasetError(f"The decoded-image cache {array_path} could not be read back; delete {folder} and run again.")
    return Decoded(entry[0], entry[1], bad, dict(modes), settled, array_path, False, time.perf_counter() - started)


def default_workers() -> int:
    """Decode processes when none are asked for: this machine's usable CPUs."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)
