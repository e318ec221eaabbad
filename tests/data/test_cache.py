"""Decode once: the second read of a folder comes from the cache (decoding nothing), a changed file
or option decodes afresh, parallel decoding equals serial, and a truncated, incomplete or foreign
cache entry is decoded again, never trusted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from imagetrees import class_tree, picture

import nascli.data.cache as cache
from nascli.data.cache import decode_files


def files_of(root: Path) -> list[Path]:
    return sorted(root.rglob("*.png"))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return class_tree(tmp_path / "photos", {"a": 12, "b": 12}, sizes=[(30, 20), (16, 40)])


def test_the_second_read_is_a_memory_mapped_hit_that_decodes_nothing(tree: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    first = decode_files(files_of(tree), 16, "crop", 3, tmp_path / "cache", 0)
    assert not first.hit and first.images.shape == (24, 3, 16, 16)

    def no_decoding(*args, **kwargs):
        raise AssertionError("a cache hit decoded a file")

    monkeypatch.setattr(cache, "decode_with_mode", no_decoding)
    second = decode_files(files_of(tree), 16, "crop", 3, tmp_path / "cache", 0)
    assert second.hit and isinstance(second.images, np.memmap) and np.array_equal(second.images, first.images)
    assert second.modes == first.modes == {"RGB": 24}


def test_a_changed_file_or_option_decodes_afresh(tree: Path, tmp_path: Path) -> None:
    files = files_of(tree)
    first = decode_files(files, 16, "crop", 3, tmp_path / "cache", 0)
    assert not decode_files(files, 16, "pad", 3, tmp_path / "cache", 0).hit  # another option
    picture(np.random.default_rng(9), 1, (24, 24)).save(files[0])  # same name, new pixels
    os.utime(files[0], ns=(files[0].stat().st_atime_ns, files[0].stat().st_mtime_ns + 10**9))
    changed = decode_files(files, 16, "crop", 3, tmp_path / "cache", 0)
    assert not changed.hit and not np.array_equal(changed.images[0], first.images[0])
    assert np.array_equal(changed.images[1:], first.images[1:])
    files[1].unlink()  # a removed file
    assert not decode_files(files_of(tree), 16, "crop", 3, tmp_path / "cache", 0).hit


def test_parallel_decoding_equals_serial(tree: Path, tmp_path: Path) -> None:
    serial = decode_files(files_of(tree), 16, "stretch", None, tmp_path / "serial", 0)
    parallel = decode_files(files_of(tree), 16, "stretch", None, tmp_path / "parallel", 2)
    assert np.array_equal(serial.images, parallel.images) and serial.modes == parallel.modes


def _entry(tmp_path: Path) -> tuple[Path, Path]:
    (array,) = [p for p in (tmp_path / "cache").glob("*.npy") if not p.name.endswith(".sums.npy")]
    return array, array.with_suffix(".json")


@pytest.mark.parametrize("spoil", ["truncated array", "missing record", "foreign format", "wrong shape", "garbage record",
                                   "missing sums"])
def test_a_spoilt_cache_entry_is_decoded_again(tree: Path, tmp_path: Path, spoil: str) -> None:
    first = decode_files(files_of(tree), 16, "crop", 3, tmp_path / "cache", 0)
    expected = np.array(first.images)
    del first
    array, record = _entry(tmp_path)
    if spoil == "truncated array":
        with open(array, "r+b") as f:
            f.truncate(array.stat().st_size // 2)
    elif spoil == "missing record":  # a run killed while decoding writes no record
        record.unlink()
    elif spoil == "missing sums":
        array.with_name(array.name.replace(".npy", ".sums.npy")).unlink()
    elif spoil == "garbage record":
        record.write_text('{"format": "nascli.dec')
    else:
        facts = json.loads(record.read_text())
        facts.update({"format": "nascli.decoded/0"} if spoil == "foreign format" else {"shape": [24, 1, 16, 16]})
        record.write_text(json.dumps(facts))
    again = decode_files(files_of(tree), 16, "crop", 3, tmp_path / "cache", 0)
    assert not again.hit and np.array_equal(again.images, expected)
    assert decode_files(files_of(tree), 16, "crop", 3, tmp_path / "cache", 0).hit  # and trusted from then on
