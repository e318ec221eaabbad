"""Datasets: splits, stratification, normalisation stats, augmentation settings, torchvision parsing,
and the missing-data message. Each is built from its shipped YAML (conf/dataset/) with options changed."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch
from configured import dataset

from nascli.data.datasets import Augment, DataShape, data_shape, stated_shape
from nascli.errors import ConfigError, DatasetError, NasError
from nascli.runtime.config import build_option, option_node


def test_digits_are_the_real_sklearn_digits_split_three_ways() -> None:
    data = dataset("digits")
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    assert (len(data.val), len(data.test)) == (pytest.approx(359, abs=10), pytest.approx(359, abs=10))
    assert data.train.images.shape[1:] == (1, 8, 8) and data.train.images.dtype == torch.uint8
    assert int(data.train.images.max()) == 16 and data.num_classes == 10
    for split in (data.train, data.val, data.test):  # stratified: every class present in every split
        assert torch.unique(split.labels).tolist() == list(range(10))


def test_splits_do_not_overlap_and_are_fixed_by_split_seed() -> None:
    a, b = dataset("digits"), dataset("digits")
    assert torch.equal(a.val.images, b.val.images)
    rows = lambda s: {tuple(img.flatten().tolist()) for img in s.images}  # noqa: E731
    assert len(rows(a.train) & rows(a.test)) < 5  # only true duplicates in the source data
    assert not torch.equal(dataset("digits", split_seed=1).val.labels, a.val.labels)


def test_max_train_samples_caps_training_only() -> None:
    data = dataset("digits", max_train_samples=100)
    assert len(data.train) == 100 and len(data.val) > 300
    with pytest.raises(DatasetError, match="max_train_samples"):
        dataset("digits", max_train_samples=0)


@pytest.mark.parametrize("test_fraction", [1.0, 1.5, -0.2])
def test_a_test_fraction_out_of_range_is_a_clear_error_naming_it(test_fraction: float) -> None:
    """A fraction outside [0, 1) is a user's mistake (DESIGN: a clear error for every bad override):
    a message naming test_fraction, not a ZeroDivisionError (1.0), a complaint about a val_fraction
    the user never set (1.5), or an empty test split without a word (-0.2)."""
    with pytest.raises(NasError, match="test_fraction"):
        dataset("digits", test_fraction=test_fraction)


def test_normalisation_stats_come_from_training_images() -> None:
    data = dataset("fake", train_samples=200, val_samples=50, test_samples=20)
    assert (len(data.train), len(data.val), len(data.test)) == (200, 50, 20)
    assert len(data.mean) == 3 and all(0.45 < m < 0.55 for m in data.mean)
    assert all(0.25 < s < 0.33 for s in data.std)  # uniform on [0, 1]: std ~ 0.289


def test_augmentation_is_an_augment_from_the_yaml_with_options_changed() -> None:
    assert dataset("digits").augment == Augment(crop_padding=1, flip=False)
    fake = dataset("fake", train_samples=20, val_samples=4, test_samples=4, augment={"flip": False})
    assert fake.augment == Augment(crop_padding=4, flip=False)  # the YAML's crop_padding kept
    with pytest.raises(ConfigError, match="crop"):
        dataset("digits", augment={"crop": 2})  # a misspelt key names the valid ones
    with pytest.raises(ConfigError, match="augment.flip"):
        dataset("digits", augment={"flip": "sometimes"})


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
    data = dataset("mnist", root=str(tmp_path), download=False, val_fraction=0.5)
    assert data.train.images.shape == (30, 1, 28, 28) and len(data.test) == 20
    assert data.num_classes == 10 and data.class_names[0].startswith("0")


def test_missing_dataset_without_download_names_the_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as err:
        dataset("cifar10", root=str(tmp_path), download=False)
    message = str(err.value)
    assert str(tmp_path / "cifar10") in message and "paths.data_dir" in message and "dataset=digits" in message


def test_unknown_torchvision_dataset(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="Known: cifar10"):
        # `dataset=cifar10 dataset.name=imagenet` (the helper's own first argument is the option)
        build_option("dataset", "cifar10", {"name": "imagenet", "root": str(tmp_path), "download": False})


def test_a_class_subset_task_keeps_and_relabels_the_chosen_classes() -> None:
    data = dataset("digits", classes=[7, 3])
    assert data.num_classes == 2 and data.class_names == ["7", "3"]
    for split in (data.train, data.val, data.test):
        assert sorted(torch.unique(split.labels).tolist()) == [0, 1]
    full = dataset("digits")
    assert len(data.train) + len(data.val) + len(data.test) == int(
        sum(((s.labels == 7) | (s.labels == 3)).sum() for s in (full.train, full.val, full.test)))
    with pytest.raises(DatasetError, match="at least two distinct class ids"):
        dataset("digits", classes=[3, 3])
    with pytest.raises(DatasetError, match="0..9"):
        dataset("digits", classes=[1, 12])


@pytest.mark.parametrize(("name", "options"), [("digits", {}), ("digits", {"classes": [7, 8, 9]}),
                                               ("fake", {"channels": 1, "image_size": 12, "num_classes": 4,
                                                         "train_samples": 16, "val_samples": 8, "test_samples": 8})])
def test_a_datasets_config_states_the_shape_its_data_has(name: str, options: dict) -> None:
    """What `nas latency-table` and a search's space fitted to its input read without loading."""
    stated = stated_shape(option_node("dataset", name, options))
    assert stated is not None and stated == build_option("dataset", name, options).shape


def test_a_torchvision_datasets_shape_needs_none_of_its_files(tmp_path: Path) -> None:
    cifar = option_node("dataset", "cifar10", {"root": str(tmp_path), "download": False})
    assert stated_shape(cifar) == DataShape(10, 3, 32) and data_shape(cifar, load=_never) == (10, 3, 32)
    assert stated_shape(option_node("dataset", "cifar100", {"root": str(tmp_path), "classes": [0, 5]})) == (2, 3, 32)
    assert not list(tmp_path.iterdir())  # nothing read or downloaded
    with pytest.raises(ConfigError, match="dataset has no option 'clases'"):  # its options are checked all the same
        stated_shape(option_node("dataset", "cifar10", {"root": str(tmp_path), "clases": [0, 1]}))


def _never():
    raise AssertionError("the data was loaded to learn a shape its config states")
