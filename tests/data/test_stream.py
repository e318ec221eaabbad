"""Larger than memory: over dataset.memory_limit_gb a folder's splits stay in the cache file and
batches are read as asked, the same batches (order, augmentation, values) as in memory for a seed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from imagetrees import class_tree

from nascli.data.assemble import FileRows, StreamSplit
from nascli.data.loader import BatchLoader
from nascli.runtime.config import build_option
from nascli.weight_sharing.batches import fixed_batches, split_halves


@pytest.fixture
def pair(tmp_path: Path):
    """The same folder in memory and streamed (a limit far below its 60 x 3 x 16 x 16 bytes)."""
    root = class_tree(tmp_path / "photos", {"a": 20, "b": 20, "c": 20})
    options = {"root": str(root), "cache_dir": str(tmp_path / "cache"), "workers": 0, "image_size": 16}
    memory = build_option("dataset", "folder", options)
    streamed = build_option("dataset", "folder", {**options, "memory_limit_gb": 1e-6})
    return memory, streamed


def test_over_the_limit_splits_stream_from_the_cache_file(pair) -> None:
    memory, streamed = pair
    assert type(memory.train) is not StreamSplit and memory.describe()["source"]["streamed"] is False
    assert isinstance(streamed.train, StreamSplit) and isinstance(streamed.train.images, FileRows)
    assert streamed.describe()["source"]["streamed"] is True and streamed.describe()["source"]["cache_hit"]
    assert streamed.shape == memory.shape and streamed.describe()["preprocess"] == memory.describe()["preprocess"]
    for a, b in ((memory.train, streamed.train), (memory.val, streamed.val), (memory.test, streamed.test)):
        assert torch.equal(a.labels, b.labels) and torch.equal(a.images, b.images.materialize())
    assert streamed.mean == pytest.approx(memory.mean, abs=1e-6) and streamed.std == pytest.approx(memory.std, abs=1e-6)


def test_the_same_batches_as_in_memory_for_a_seed(pair) -> None:
    memory, streamed = pair
    for train in (True, False):
        a = list(BatchLoader(memory.train, memory, 8, train=train, cutout_length=4, seed=3))
        b = list(BatchLoader(streamed.train, streamed, 8, train=train, cutout_length=4, seed=3))
        assert len(a) == len(b) == 6
        for (xa, ya), (xb, yb) in zip(a, b):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_one_shot_halves_and_fixed_batches_stay_in_the_file(pair) -> None:
    memory, streamed = pair
    halves_m, halves_s = split_halves(memory.train, 0), split_halves(streamed.train, 0)
    assert all(isinstance(h, StreamSplit) for h in halves_s)
    for hm, hs in zip(halves_m, halves_s):
        assert torch.equal(hm.images, hs.images.materialize())
    fm = fixed_batches(memory.val, memory, 4, 2, 0, "cpu")
    fs = fixed_batches(streamed.val, streamed, 4, 2, 0, "cpu")
    assert all(torch.equal(a[0], b[0]) for a, b in zip(fm, fs))


def test_a_cache_file_cut_short_under_a_stream_is_a_clear_error(pair) -> None:
    from nascli.errors import DatasetError

    _, streamed = pair
    path = streamed.train.images.path
    with open(path, "r+b") as f:
        f.truncate(200)
    with pytest.raises(DatasetError, match="shorter than its record says.*delete it and run again"):
        streamed.train.images[torch.arange(len(streamed.train))]
