"""dataset=folder: class folders and split folders, image_size/resize/channels/extensions, class
names from the folders, stratified seeded splits of what is absent, and bad data (each a
DatasetError naming the path and what to do, or skipped, counted and listed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from imagetrees import class_tree, picture
from PIL import Image

from nascli.data.images import Preprocess
from nascli.errors import DatasetError
from nascli.runtime.config import build_option


def folder(root: Path, tmp_path: Path, **options):
    """`nas ... dataset=folder dataset.root=<root>` with a cache in tmp_path and `options` changed."""
    return build_option("dataset", "folder", {"root": str(root), "cache_dir": str(tmp_path / "cache"), "workers": 0, **options})


def test_class_folders_become_classes_and_stratified_seeded_splits(tmp_path: Path) -> None:
    root = class_tree(tmp_path / "photos", {"cat": 20, "dog": 20, "emu": 10})
    data = folder(root, tmp_path, val_fraction=0.2, test_fraction=0.2)
    assert data.class_names == ["cat", "dog", "emu"] and data.shape == (3, 3, 32)
    assert (len(data.train), len(data.val), len(data.test)) == (30, 10, 10)
    for split in (data.train, data.val, data.test):  # every class in every split, in proportion
        assert torch.bincount(split.labels).tolist() == [len(split) * 2 // 5] * 2 + [len(split) // 5]
    assert data.train.images.dtype == torch.uint8 and data.max_value == 255.0
    assert data.describe()["preprocess"] == Preprocess(32, "crop", 3).record()
    source = data.describe()["source"]
    assert source["layout"] == "class folders" and source["files"] == 50 and source["bad"] == 0
    again = folder(root, tmp_path, val_fraction=0.2, test_fraction=0.2)
    assert torch.equal(again.val.images, data.val.images)
    other = folder(root, tmp_path, val_fraction=0.2, test_fraction=0.2, split_seed=1)
    assert not torch.equal(other.val.images, data.val.images)


def test_split_folders_are_used_as_given_and_the_absent_test_split_is_held_out(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    class_tree(root / "train", {"a": 20, "b": 20})
    class_tree(root / "val", {"a": 3, "b": 4}, seed=1)
    data = folder(root, tmp_path, test_fraction=0.25)
    assert data.class_names == ["a", "b"] and data.describe()["source"]["layout"] == "split folders"
    assert len(data.val) == 7 and torch.bincount(data.val.labels).tolist() == [3, 4]
    assert (len(data.train), len(data.test)) == (30, 10)
    class_tree(root / "test", {"a": 2, "b": 2}, seed=2)
    given = folder(root, tmp_path)
    assert (len(given.train), len(given.val), len(given.test)) == (40, 7, 4)


def test_a_class_in_val_that_train_lacks_is_named(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    class_tree(root / "train", {"a": 4, "b": 4})
    class_tree(root / "validation", {"a": 2, "c": 2})
    with pytest.raises(DatasetError, match=r"validation/c is a class that .*train lacks"):
        folder(root, tmp_path)


@pytest.mark.parametrize("resize", ["crop", "stretch", "pad"])
def test_mixed_sizes_become_one_square_size(tmp_path: Path, resize: str) -> None:
    root = class_tree(tmp_path / "p", {"x": 6, "y": 6}, sizes=[(10, 40), (64, 48), (17, 17)])
    data = folder(root, tmp_path, image_size=20, resize=resize, val_fraction=0.0, test_fraction=0.0)
    assert data.train.images.shape == (12, 3, 20, 20) and data.describe()["preprocess"]["resize"] == resize


def test_channels_auto_is_one_for_grayscale_files_and_three_when_any_is_colour(tmp_path: Path) -> None:
    gray = class_tree(tmp_path / "gray", {"x": 4, "y": 4}, mode="L")
    picture(np.random.default_rng(0), 0, mode="I;16").save(gray / "x" / "deep.png")  # 16-bit scans are grayscale
    picture(np.random.default_rng(1), 0, mode="LA").save(gray / "x" / "alpha.png")
    data = folder(gray, tmp_path, val_fraction=0.0, test_fraction=0.0)
    assert data.in_channels == 1 and data.describe()["preprocess"]["channels"] == 1
    assert data.describe()["source"]["converted"] == {"I;16": 1, "LA": 1}
    picture(np.random.default_rng(0), 1, mode="RGBA").save(gray / "y" / "colour.png")
    picture(np.random.default_rng(0), 1, mode="P").save(gray / "y" / "palette.gif")
    mixed = folder(gray, tmp_path, val_fraction=0.0, test_fraction=0.0)
    assert mixed.in_channels == 3
    assert mixed.describe()["source"]["converted"] == {"I;16": 1, "LA": 1, "P": 1, "RGBA": 1}
    assert folder(gray, tmp_path, channels=1, val_fraction=0.0, test_fraction=0.0).in_channels == 1


def test_extensions_choose_the_files_and_the_others_are_counted(tmp_path: Path) -> None:
    root = class_tree(tmp_path / "p", {"x": 4, "y": 4})
    class_tree(root, {"x": 3, "y": 3}, suffix=".JPG", seed=5)
    (root / "x" / "notes.txt").write_text("not an image")
    (root / "x" / ".DS_Store").write_bytes(b"\0")
    both = folder(root, tmp_path, val_fraction=0.0, test_fraction=0.0)
    assert len(both.train) == 14 and both.describe()["source"]["other_files_ignored"] == 1
    png = folder(root, tmp_path, extensions=["png"], val_fraction=0.0, test_fraction=0.0)
    assert len(png.train) == 8 and png.describe()["source"]["other_files_ignored"] == 7


def test_a_class_subset_of_a_folder(tmp_path: Path) -> None:
    root = class_tree(tmp_path / "p", {"a": 5, "b": 5, "c": 5})
    data = folder(root, tmp_path, classes=[2, 0], val_fraction=0.0, test_fraction=0.0)
    assert data.class_names == ["c", "a"] and len(data.train) == 10 and set(data.train.labels.tolist()) == {0, 1}


# --- bad data: a clear message with the path and what to do, or skipped, counted and listed --------
def test_a_missing_root_an_empty_root_and_no_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"dataset.root=.*nowhere does not exist.*root/<class>"):
        folder(tmp_path / "nowhere", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty holds no class folders"):
        folder(tmp_path / "empty", tmp_path)
    with pytest.raises(DatasetError, match=r"dataset=folder needs dataset.root="):
        build_option("dataset", "folder", {"cache_dir": str(tmp_path)})


def test_one_class_only_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"1 class folder\(s\) \(cat\); a classifier needs at least two"):
        folder(class_tree(tmp_path / "p", {"cat": 3}), tmp_path)


def test_a_class_folder_without_images_is_named(tmp_path: Path) -> None:
    root = class_tree(tmp_path / "p", {"a": 3, "b": 3})
    (root / "c").mkdir()
    (root / "c" / "readme.txt").write_text("nothing here")
    with pytest.raises(DatasetError, match=r"class folder .*p/c holds no images .*dataset.extensions"):
        folder(root, tmp_path)


def _spoil(root: Path) -> list[Path]:
    """A file that is not an image, a truncated one and an empty one, each with an image's name."""
    (root / "a" / "fake.png").write_text("this is text")
    cut = root / "b" / "cut.jpg"
    picture(np.random.default_rng(1), 1, (64, 64)).save(cut)
    cut.write_bytes(cut.read_bytes()[:300])
    (root / "b" / "empty.png").write_bytes(b"")
    return [root / "a" / "fake.png", cut, root / "b" / "empty.png"]


def test_files_that_are_not_images_or_truncated_are_skipped_counted_and_listed(tmp_path: Path) -> None:
    root = class_tree(tmp_path / "p", {"a": 20, "b": 20})
    spoilt = _spoil(root)
    data = folder(root, tmp_path, max_bad_fraction=0.1, val_fraction=0.0, test_fraction=0.0)
    assert len(data.train) == 40
    source = data.describe()["source"]
    assert source["bad"] == 3 and {Path(b["path"]) for b in source["bad_files"]} == set(spoilt)
    assert all(b["why"] for b in source["bad_files"])


def test_more_bad_files_than_max_bad_fraction_is_refused_with_the_list(tmp_path: Path) -> None:
    root = class_tree(tmp_path / "p", {"a": 20, "b": 20})
    _spoil(root)
    with pytest.raises(DatasetError, match=r"(?s)3 of 43 files .* dataset.max_bad_fraction=0.01.*fake.png: not an image"
                                           r".*cut.jpg: .*raise dataset.max_bad_fraction"):
        folder(root, tmp_path)


def test_a_decompression_bomb_is_skipped_and_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = class_tree(tmp_path / "p", {"a": 10, "b": 10})
    Image.new("RGB", (120, 120)).save(root / "a" / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # the small ones are under, the 14,400-pixel one over twice
    data = folder(root, tmp_path, max_bad_fraction=0.1, val_fraction=0.0, test_fraction=0.0)
    (bad,) = data.describe()["source"]["bad_files"]
    assert bad["path"].endswith("bomb.png") and "decompression bomb" in bad["why"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links here")
def test_a_symlink_loop_is_not_followed_forever(tmp_path: Path) -> None:
    root = class_tree(tmp_path / "p", {"a": 10, "b": 10})
    (root / "a" / "again").symlink_to(root / "a", target_is_directory=True)
    (root / "b" / "gone.png").symlink_to(tmp_path / "missing.png")
    data = folder(root, tmp_path, max_bad_fraction=0.2, val_fraction=0.0, test_fraction=0.0)
    assert len(data.train) == 20
    whys = {Path(b["path"]).name: b["why"] for b in data.describe()["source"]["bad_files"]}
    assert "symbolic link loop" in whys["again"] and "broken symbolic link" in whys["gone.png"]


def test_wrong_options_name_the_key(tmp_path: Path) -> None:
    root = class_tree(tmp_path / "p", {"a": 3, "b": 3})
    with pytest.raises(DatasetError, match="dataset.resize must be one of crop, stretch, pad"):
        folder(root, tmp_path, resize="squash")
    with pytest.raises(DatasetError, match="dataset.channels must be auto, 1 or 3"):
        folder(root, tmp_path, channels=4)
    with pytest.raises(DatasetError, match="dataset.image_size must be a positive"):
        folder(root, tmp_path, image_size=0)


def test_a_val_folder_can_be_the_test_split_as_imagenet_s_is(tmp_path: Path) -> None:
    root = tmp_path / "imagenet"
    class_tree(root / "train", {"a": 10, "b": 10})
    class_tree(root / "val", {"a": 3, "b": 3}, seed=1)
    data = folder(root, tmp_path, val_folder_split="test", val_fraction=0.0, test_fraction=0.0)
    assert (len(data.train), len(data.val), len(data.test)) == (20, 0, 6)
    class_tree(root / "test", {"a": 2, "b": 2}, seed=2)
    with pytest.raises(DatasetError, match="both a val/ and a test/ folder"):
        folder(root, tmp_path, val_folder_split="test")
    with pytest.raises(DatasetError, match="dataset.val_folder_split must be val or test"):
        folder(root, tmp_path, val_folder_split="train")
