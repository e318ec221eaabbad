"""Datasets: splits, stratification, normalisation stats, torchvision parsing, and the missing-data message."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch

from nascli.data.datasets import digits_splits, fake_splits, torchvision_splits
from nascli.errors import DatasetError


def test_digits_are_the_real_sklearn_digits_split_three_ways() -> None:
    data = digits_splits()
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    assert (len(data.val), len(data.test)) == (pytest.approx(359, abs=10), pytest.approx(359, abs=10))
    assert data.train.images.shape[1:] == (1, 8, 8) and data.train.images.dtype == torch.uint8
    assert int(data.train.images.max()) == 16 and data.num_classes == 10
    for split in (data.train, data.val, data.test):  # stratified: every class present in every split
        assert torch.unique(split.labels).tolist() == list(range(10))


def test_splits_do_not_overlap_and_are_fixed_by_split_seed() -> None:
    a, b = digits_splits(), digits_splits()
    assert torch.equal(a.val.images, b.val.images)
    rows = lambda s: {tuple(img.flatten().tolist()) for img in s.images}  # noqa: E731
    assert len(rows(a.train) & rows(a.test)) < 5  # only true duplicates in the source data
    assert not torch.equal(digits_splits(split_seed=1).val.labels, a.val.labels)


def test_max_train_samples_caps_training_only() -> None:
    data = digits_splits(max_train_samples=100)
    assert len(data.train) == 100 and len(data.val) > 300


def test_normalisation_stats_come_from_training_images() -> None:
    data = fake_splits(train_samples=200, val_samples=50, test_samples=20)
    assert len(data.mean) == 3 and all(0.45 < m < 0.55 for m in data.mean)
    assert all(0.25 < s < 0.33 for s in data.std)  # uniform on [0, 1]: std ~ 0.289


def _write_idx(path: Path, array: torch.Tensor) -> None:
    """Write MNIST's idx format (what torchvision's MNIST class parses)."""
    dims = array.shape
    code = 0x08  # unsigned byte
    header = struct.pack(">HBB", 0, code, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    with gzip.open(path, "wb") if path.suffix == ".gz" else open(path, "wb") as handle:
        handle.write(header + array.to(torch.uint8).numpy().tobytes())


def test_mnist_goes_through_torchvisions_own_parser(tmp_path: Path) -> None:
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    for prefix, n in (("train", 60), ("t10k", 20)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", torch.randint(0, 256, (n, 28, 28), generator=gen))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", torch.arange(n) % 10)
    data = torchvision_splits("mnist", str(tmp_path), download=False, val_fraction=0.5)
    assert data.train.images.shape == (30, 1, 28, 28) and len(data.test) == 20
    assert data.num_classes == 10 and data.class_names[0].startswith("0")


def test_missing_dataset_without_download_names_the_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as err:
        torchvision_splits("cifar10", str(tmp_path), download=False)
    message = str(err.value)
    assert str(tmp_path / "cifar10") in message and "paths.data_dir" in message and "dataset=digits" in message


def test_unknown_torchvision_dataset(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="Known: cifar10"):
        torchvision_splits("imagenet", str(tmp_path))


def test_a_class_subset_task_keeps_and_relabels_the_chosen_classes() -> None:
    data = digits_splits(classes=[7, 3])
    assert data.num_classes == 2 and data.class_names == ["7", "3"]
    for split in (data.train, data.val, data.test):
        assert sorted(torch.unique(split.labels).tolist()) == [0, 1]
    full = digits_splits()
    assert len(data.train) + len(data.val) + len(data.test) == int(
        sum(((s.labels == 7) | (s.labels == 3)).sum() for s in (full.train, full.val, full.test)))
    with pytest.raises(DatasetError, match="at least two distinct class ids"):
        digits_splits(classes=[3, 3])
    with pytest.raises(DatasetError, match="0..9"):
        digits_splits(classes=[1, 12])
