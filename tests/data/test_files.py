"""Too large to cache: dataset.decode=files (or auto over cache_limit_gb) keeps only paths, and
DataLoader workers decode each batch with the ImageNet transforms, reproducibly for a seed."""

from __future__ import annotations

import tracemalloc
from unittest.mock import patch
from pathlib import Path

import numpy as np
import pytest
import torch
from imagetrees import class_tree

from nascli.data.files import FileImages, FileSplit, resized_crop_box
from nascli.data.images import Preprocess, decode
from nascli.data.loader import BatchLoader
from nascli.errors import DatasetError
from nascli.runtime.config import build_option


def _options(tmp_path: Path, root: Path, **more) -> dict:
    return {"root": str(root), "cache_dir": str(tmp_path / "cache"), "workers": 0, "image_size": 16, **more}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return class_tree(tmp_path / "photos", {"a": 12, "b": 12, "c": 12}, sizes=[(40, 30), (30, 44), (24, 24)])


def test_decode_files_keeps_paths_and_reads_evaluation_batches_as_predict_does(tmp_path: Path, tree: Path) -> None:
    data = build_option("dataset", "folder", _options(tmp_path, tree, decode="files"))
    assert isinstance(data.train, FileSplit) and isinstance(data.test.images, FileImages)
    assert data.shape == (3, 3, 16) and data.class_names == ["a", "b", "c"]
    assert data.preprocess == {"format": "nascli.preprocess/1", "image_size": 16, "resize": "crop", "channels": 3, "crop": 0.875}
    assert data.describe()["source"]["decode"] == "files" and not (tmp_path / "cache").exists()  # nothing decoded ahead
    assert len(data.train) + len(data.val) + len(data.test) == 36
    pre = Preprocess.from_record(data.preprocess)
    x, y = next(iter(BatchLoader(data.val, data, 3)))
    expected = torch.stack([torch.from_numpy(decode(Path(data.val.images.path(i)), pre)) for i in range(3)]).float() / 255
    mean, std = torch.tensor(data.mean).view(1, -1, 1, 1), torch.tensor(data.std).view(1, -1, 1, 1)
    assert torch.allclose(x, (expected - mean) / std) and torch.equal(y, data.val.labels[:3])
    assert torch.equal(data.val.images[torch.arange(3)], (expected * 255).round().to(torch.uint8))
    assert 0.05 < min(data.std) and all(0 < m < 1 for m in data.mean)


def test_auto_decodes_from_files_only_over_the_cache_limit(tmp_path: Path, tree: Path) -> None:
    cached = build_option("dataset", "folder", _options(tmp_path, tree))
    assert type(cached.train).__name__ == "Split" and cached.describe()["source"]["decode"] == "cache"
    over = build_option("dataset", "folder", _options(tmp_path, tree, cache_limit_gb=1e-6))  # 36 x 3 x 16 x 16 bytes > 1 KiB
    assert isinstance(over.train, FileSplit)
    assert [len(s) for s in (over.train, over.val, over.test)] == [len(s) for s in (cached.train, cached.val, cached.test)]
    assert torch.equal(over.train.labels, cached.train.labels)


def test_training_batches_are_the_same_for_a_seed_whatever_the_workers(tmp_path: Path, tree: Path) -> None:
    data = build_option("dataset", "folder", _options(tmp_path, tree, decode="files"))
    runs = [list(BatchLoader(data.train, data, 8, train=True, cutout_length=4, seed=3)) for _ in range(2)]
    data.train.images.workers = 2
    runs.append(list(BatchLoader(data.train, data, 8, train=True, cutout_length=4, seed=3)))
    for a, b in zip(runs[0], runs[2]):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert all(torch.equal(a[0], b[0]) for a, b in zip(runs[0], runs[1]))
    other = list(BatchLoader(data.train, data, 8, train=True, cutout_length=4, seed=4))
    assert not torch.equal(other[0][0], runs[0][0][0])
    loader = BatchLoader(data.train, data, 8, train=True, seed=3)
    first, second = [x for x, _ in loader], [x for x, _ in loader]
    assert not torch.equal(first[0], second[0])  # each epoch crops afresh
    evaluation = BatchLoader(data.train, data, 8)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(evaluation, evaluation))  # evaluation is deterministic


def test_random_resized_crops_stay_inside_and_cover_the_asked_share() -> None:
    rng = np.random.default_rng(0)
    shares = []
    for width, height in ((400, 300), (50, 500), (224, 224)):
        for _ in range(200):
            left, top, right, bottom = resized_crop_box(width, height, (0.08, 1.0), rng)
            assert 0 <= left < right <= width and 0 <= top < bottom <= height
            shares.append((right - left) * (bottom - top) / (width * height))
    assert min(shares) > 0.07 and max(shares) <= 1.0 and 0.3 < float(np.mean(shares)) < 0.7


def test_memory_stays_at_a_few_batches_however_many_files(tmp_path: Path) -> None:
    root = class_tree(tmp_path / "many", {"a": 60, "b": 60}, sizes=[(72, 72)])
    data = build_option("dataset", "folder", _options(tmp_path, root, decode="files", image_size=64, val_fraction=0.0,
                                                      test_fraction=0.0))
    whole = len(data.train) * 3 * 64 * 64  # the split decoded, as uint8: 15 batches of 8
    tracemalloc.start()  # numpy's allocations are traced: the decoded images pass through numpy
    try:
        for _ in BatchLoader(data.train, data, 8, train=True, seed=0):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < whole / 4, f"peak {peak} bytes for {whole} bytes of images"


def test_a_file_that_cannot_be_read_is_black_and_counted_not_a_crash(tmp_path: Path, tree: Path) -> None:
    data = build_option("dataset", "folder", _options(tmp_path, tree, decode="files", val_fraction=0.0, test_fraction=0.0))
    spoilt = Path(data.train.images.path(0))
    spoilt.write_bytes(b"not an image")
    loader = BatchLoader(data.train, data, 36, train=True, seed=0)
    with pytest.warns(UserWarning, match="cannot be used"):
        (x, _), = list(loader)
    assert x.shape == (36, 3, 16, 16) and len(loader.bad_files) == 1 and str(spoilt) in next(iter(loader.bad_files))


def test_options_of_decode_files_are_checked(tmp_path: Path, tree: Path) -> None:
    with pytest.raises(DatasetError, match="dataset.decode must be one of auto, cache, files"):
        build_option("dataset", "folder", _options(tmp_path, tree, decode="stream"))
    with pytest.raises(DatasetError, match="dataset.crop_scale"):
        build_option("dataset", "folder", _options(tmp_path, tree, decode="files", crop_scale=[0.5, 0.1]))
    with pytest.raises(DatasetError, match="dataset.cache_limit_gb must be positive"):
        build_option("dataset", "folder", _options(tmp_path, tree, cache_limit_gb=0))


def test_grayscale_files_settle_to_one_channel_from_their_headers(tmp_path: Path) -> None:
    root = class_tree(tmp_path / "gray", {"a": 6, "b": 6}, mode="L")
    data = build_option("dataset", "folder", _options(tmp_path, root, decode="files"))
    assert data.in_channels == 1 and next(iter(BatchLoader(data.train, data, 4, train=True)))[0].shape == (4, 1, 16, 16)


def test_large_jpegs_are_decoded_at_a_reduced_scale_when_the_crop_allows(tmp_path: Path) -> None:
    root = class_tree(tmp_path / "jpegs", {"a": 4, "b": 4}, suffix=".jpg", sizes=[(320, 240)])
    data = build_option("dataset", "folder", _options(tmp_path, root, decode="files", val_fraction=0.0, test_fraction=0.0))
    pre = Preprocess.from_record(data.preprocess)
    row, seed = 0, 7
    from nascli.data.files import read_file

    fast, why = read_file(data.train.images.path(row), pre, seed, (0.08, 1.0))
    with patch("PIL.JpegImagePlugin.JpegImageFile.draft", lambda *a, **k: None):  # the whole-scale decode
        whole, _ = read_file(data.train.images.path(row), pre, seed, (0.08, 1.0))
    assert why is None and fast.shape == whole.shape == (3, 16, 16) and not np.array_equal(fast, whole)
    assert np.abs(fast.astype(int) - whole.astype(int)).mean() < 12  # the same crop, decoded at 1/2..1/8 scale
    a, b = (list(BatchLoader(data.train, data, 4, train=True, seed=1)) for _ in range(2))
    assert all(torch.equal(x[0], y[0]) for x, y in zip(a, b))
