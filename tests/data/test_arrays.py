"""dataset=arrays: .npz, a pair of .npy files, a .pt of tensors; each layout and dtype; class names
and given splits; and the arrays that cannot be used (each a DatasetError naming the file and fix)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nascli.data.assemble import StreamSplit
from nascli.data.datasets import _read_digits
from nascli.errors import DatasetError
from nascli.runtime.config import build_option


def arrays(path: Path, **options):
    return build_option("dataset", "arrays", {"path": str(path), **options})


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (N, 8, 8) uint8 in 0..16 and int labels."""
    pixels, target = _read_digits()
    return pixels.reshape(-1, 8, 8).astype(np.uint8), target.astype(np.int64)


def test_an_npz_of_digits_with_class_names(tmp_path: Path, digits) -> None:
    x, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    np.savez(tmp_path / "d.npz", x=x, y=y, class_names=names)
    data = arrays(tmp_path / "d.npz", val_fraction=0.2, test_fraction=0.2)
    assert data.shape == (10, 1, 8) and data.class_names == names.tolist() and data.max_value == 255.0
    assert len(data.train) + len(data.val) + len(data.test) == len(x)
    assert torch.unique(data.test.labels).tolist() == list(range(10))  # stratified


@pytest.mark.parametrize("layout", ["NHW", "NHWC", "NCHW"])
def test_each_layout_is_read_alike(tmp_path: Path, layout: str) -> None:
    rng = np.random.default_rng(0)
    nchw = rng.integers(0, 256, (40, 3 if layout != "NHW" else 1, 6, 6), dtype=np.uint8)
    x = {"NHW": nchw[:, 0], "NHWC": nchw.transpose(0, 2, 3, 1), "NCHW": nchw}[layout]
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(40) % 4)
    auto = arrays(tmp_path / "a.npz", val_fraction=0.0, test_fraction=0.0)
    told = arrays(tmp_path / "a.npz", val_fraction=0.0, test_fraction=0.0, layout=layout)
    assert torch.equal(auto.train.images, torch.from_numpy(nchw)) and torch.equal(told.train.images, auto.train.images)


@pytest.mark.parametrize(("dtype", "top"), [(np.uint8, 255.0), (np.uint16, 65535.0), (np.int64, 16.0),
                                            (np.float32, 1.0), (np.float64, 1.0), (np.bool_, 1.0)])
def test_dtypes_keep_their_range(tmp_path: Path, digits, dtype, top: float) -> None:
    x, y = digits
    np.savez(tmp_path / "d.npz", x=(x > 8) if dtype is np.bool_ else x.astype(dtype), y=y)
    data = arrays(tmp_path / "d.npz")
    assert data.max_value == top
    assert data.train.images.dtype == (torch.float32 if np.issubdtype(dtype, np.floating) else
                                       torch.uint8 if dtype in (np.uint8, np.bool_) else torch.int32)


def test_a_pair_of_npy_files_and_given_splits(tmp_path: Path, digits) -> None:
    x, y = digits
    np.save(tmp_path / "x.npy", x[:1500])
    np.save(tmp_path / "y.npy", y[:1500])
    np.save(tmp_path / "x_test.npy", x[1500:])
    np.save(tmp_path / "y_test.npy", y[1500:])
    data = arrays(tmp_path / "x.npy", val_fraction=0.1)
    assert len(data.test) == len(x) - 1500 and torch.equal(data.test.images[:, 0], torch.from_numpy(x[1500:]))
    assert len(data.train) + len(data.val) == 1500 and data.describe()["source"]["given_splits"] == ["test", "train"]
    assert len(arrays(tmp_path).test) == len(x) - 1500  # the folder holding them works too


def test_a_pt_file_of_tensors_read_with_weights_only(tmp_path: Path, digits) -> None:
    x, y = digits
    torch.save({"images": torch.from_numpy(x), "labels": torch.from_numpy(y), "class_names": [f"d{i}" for i in range(10)]},
               tmp_path / "d.pt")
    data = arrays(tmp_path / "d.pt", x_key="images", y_key="labels")
    assert data.class_names[3] == "d3" and data.shape == (10, 1, 8)


class Anything:
    """Any Python object: a .pt holding one must not be unpickled."""


def test_a_pt_file_with_objects_is_refused_not_unpickled(tmp_path: Path) -> None:
    torch.save({"x": Anything(), "y": torch.zeros(3)}, tmp_path / "evil.pt")
    with pytest.raises(DatasetError, match=r"evil.pt cannot be read as arrays \(UnpicklingError"):
        arrays(tmp_path / "evil.pt")


def test_a_uint8_nchw_npy_larger_than_the_limit_streams(tmp_path: Path) -> None:
    x = np.random.default_rng(0).integers(0, 256, (64, 3, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.arange(64) % 2)
    streamed, memory = arrays(tmp_path, memory_limit_gb=1e-6), arrays(tmp_path)
    assert isinstance(streamed.train, StreamSplit) and not isinstance(memory.train, StreamSplit)
    assert torch.equal(streamed.train.images.materialize(), memory.train.images)


# --- arrays that cannot be used ------------------------------------------------------------------
@pytest.mark.parametrize(("content", "message"), [
    ({"x": np.zeros((10, 8, 8)), "y": np.zeros(9, int)}, r"d.npz:y has shape \(9,\) but its images number 10"),
    ({"x": np.zeros((10, 8, 8)), "y": np.arange(10) - 1}, r"labels out of range \(\[-1\]\); they must be 0..k-1"),
    ({"x": np.zeros((10, 8, 8)), "y": np.arange(10) % 2, "class_names": np.array(["a"])}, r"labels out of range \(\[1\]\)"),
    ({"x": np.zeros((10, 8, 8)), "y": np.linspace(0, 1, 10)}, r"labels that are not integers"),
    ({"x": np.zeros((10, 8, 8)), "y": np.array(list("ababababab"))}, r"labels must be integer class ids"),
    ({"x": np.full((10, 8, 8), np.nan), "y": np.arange(10) % 2}, r"100 NaN or infinite|640 NaN or infinite .*image 0"),
    ({"x": np.zeros((10, 8, 6)), "y": np.arange(10) % 2}, r"8x6 images .* square"),
    ({"x": np.zeros((10, 3, 8, 8, 2)), "y": np.arange(10) % 2}, r"images must be \(N, H, W\)"),
    ({"images": np.zeros((10, 8, 8)), "y": np.arange(10) % 2}, r"holds no 'x' and 'y' \(it holds: images, y\)"),
    ({"x": np.zeros((10, 8, 8)), "y": np.zeros(10, int)}, r"1 class\(es\)"),
    ({"x": np.zeros((10, 8, 8)), "y": np.arange(10) % 2, "x_test": np.zeros((2, 8, 8))}, r"x_test without y_test"),
])
def test_arrays_that_cannot_be_used_are_named_with_the_fix(tmp_path: Path, content: dict, message: str) -> None:
    np.savez(tmp_path / "d.npz", **content)
    with pytest.raises(DatasetError, match=message):
        arrays(tmp_path / "d.npz")


def test_an_ambiguous_or_wrong_layout_says_to_set_it(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((10, 3, 3, 3), np.uint8), y=np.arange(10) % 2)
    with pytest.raises(DatasetError, match=r"say which with dataset.layout=NHWC or dataset.layout=NCHW"):
        arrays(tmp_path / "d.npz")
    np.savez(tmp_path / "e.npz", x=np.zeros((10, 16, 16, 3), np.uint8), y=np.arange(10) % 2)
    with pytest.raises(DatasetError, match=r"Read as NCHW, .* 16x3 images with 16 channels.*Check dataset.layout"):
        arrays(tmp_path / "e.npz", layout="NCHW")


def test_a_missing_path_or_no_path_or_not_arrays(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"dataset=arrays needs dataset.path="):
        build_option("dataset", "arrays", {})
    with pytest.raises(DatasetError, match=r"dataset.path=.*nope.npz does not exist"):
        arrays(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(DatasetError, match=r"junk.npz cannot be read as arrays"):
        arrays(tmp_path / "junk.npz")
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}] * 10, dtype=object), y=np.arange(10) % 2)
    with pytest.raises(DatasetError, match=r"obj.npz holds Python objects, which are never unpickled"):
        arrays(tmp_path / "obj.npz")
