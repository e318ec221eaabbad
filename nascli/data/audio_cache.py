"""Compute once: the log-mel features of sound files, in one memory-mapped float32 array, cached.

The same contract as decoded images (nascli.data.cache): an entry under `cache_dir` is named by a
hash of the files' paths, sizes and mtimes and the feature settings, written as a `.npy` array (one
row per file, zeros for files that could not be used), its per-row sums, and a `.json` record
written last; an entry without its record, of another format or of another shape is computed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nascli.data.audio import BadAudio, read_clip
from nascli.data.audio_features import AudioFeatures, log_mel
from nascli.errors import DatasetError, StorageError

FORMAT = "nascli.audio-features/1"
CHUNK = 256  # clips read and turned into features at a time


@dataclass
class Computed:
    """Features of files: (N, 1, S, S) float32 memory-mapped from the cache; `bad` maps a file's index
    to why it could not be used (its row is zeros)."""

    features: np.ndarray
    sums: np.ndarray       # (N, 1, 2) float64: each row's sum and sum of squares
    bad: dict[int, str]
    path: Path
    hit: bool
    seconds: float


def audio_cache_key(files: Sequence[Path], features: AudioFeatures) -> str:
    """A hash of what decides the features: every file's path, size and mtime, and the settings."""
    digest = hashlib.sha256(json.dumps([FORMAT, features.record()], sort_keys=True).encode())
    for path in files:
        try:
            st = path.stat()
            digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()[:24]


def _paths(folder: Path, key: str) -> tuple[Path, Path, Path]:
    return folder / f"{key}.npy", folder / f"{key}.sums.npy", folder / f"{key}.json"


def _read_entry(folder: Path, key: str, n: int, size: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    array_path, sums_path, record_path = _paths(folder, key)
    if not (array_path.is_file() and sums_path.is_file() and record_path.is_file()):
        return None
    try:
        record = json.loads(record_path.read_text())
        if record.get("format") != FORMAT:
            return None
        features = np.load(array_path, mmap_mode="r", allow_pickle=False)
        sums = np.load(sums_path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, json.JSONDecodeError):
        return None
    if features.dtype != np.float32 or features.shape != (n, 1, size, size) or sums.shape != (n, 1, 2):
        return None
    return features, sums, record


def _compute(files: Sequence[Path], features: AudioFeatures, out: Path, sums_out: Path, label: str) -> dict[int, str]:
    """Every file's features into the arrays at `out` and `sums_out`, a chunk at a time, with a progress bar."""
    from rich import get_console

    from nascli.runtime.console import progress

    n, size = len(files), features.size
    rows = np.lib.format.open_memmap(out, mode="w+", dtype=np.float32, shape=(n, 1, size, size))
    sums = np.lib.format.open_memmap(sums_out, mode="w+", dtype=np.float64, shape=(n, 1, 2))
    bad: dict[int, str] = {}
    with progress(get_console()) as bar:
        task = bar.add_task(label, total=n, info="")
        for start in range(0, n, CHUNK):
            clips, kept = [], []
            for i in range(start, min(n, start + CHUNK)):
                try:
                    clips.append(read_clip(files[i], features.sample_rate, features.samples))
                    kept.append(i)
                except BadAudio as exc:
                    bad[i] = str(exc)
            if clips:
                block = log_mel(torch.stack(clips), features).numpy()
                rows[kept] = block
                wide = block.reshape(len(kept), 1, -1).astype(np.float64)
                sums[kept, :, 0], sums[kept, :, 1] = wide.sum(axis=2), (wide * wide).sum(axis=2)
            bar.update(task, completed=min(n, start + CHUNK), info=f"{len(bad)} bad" if bad else "")
    rows.flush()
    sums.flush()
    del rows, sums
    return bad


def features_of_files(files: Sequence[Path], features: AudioFeatures, cache_dir: str | Path,
                      label: str = "log-mel features") -> Computed:
    """`files` as (N, 1, n_mels, n_mels) log-mel features, from the cache when it holds them."""
    started = time.perf_counter()
    folder = Path(cache_dir).expanduser()
    key = audio_cache_key(files, features)
    entry = _read_entry(folder, key, len(files), features.size)
    array_path, sums_path, record_path = _paths(folder, key)
    if entry is not None:
        return Computed(entry[0], entry[1], {int(k): v for k, v in entry[2]["bad"].items()}, array_path, True,
                        time.perf_counter() - started)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in (record_path, array_path, sums_path):
            stale.unlink(missing_ok=True)
        tmp, tmp_sums = folder / f"{key}.{os.getpid()}.tmp.npy", folder / f"{key}.{os.getpid()}.tmp.sums.npy"
        bad = _compute(files, features, tmp, tmp_sums, label)
        os.replace(tmp_sums, sums_path)
        os.replace(tmp, array_path)
        record = {"format": FORMAT, "features": features.record(), "files": len(files),
                  "bad": {str(k): v for k, v in sorted(bad.items())}, "first_file": str(files[0]) if files else None}
        tmp_record = folder / f"{key}.{os.getpid()}.tmp.json"
        tmp_record.write_text(json.dumps(record, indent=1))
        os.replace(tmp_record, record_path)
    except OSError as exc:
        raise StorageError(f"Cannot write the audio feature cache in {folder} ({exc}). Free some space there or point "
                           "dataset.cache_dir (or paths.cache_dir) at a writable folder with room.") from None
    entry = _read_entry(folder, key, len(files), features.size)
    if entry is None:
        raise DatasetError(f"The audio feature cache {array_path} could not be read back; delete {folder} and run again.")
    return Computed(entry[0], entry[1], bad, array_path, False, time.perf_counter() - started)
