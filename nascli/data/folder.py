"""dataset=folder: the user's images in class folders, as torchvision's ImageFolder reads them.

Two layouts: `root/<class>/<image>` (train, val and test split off, stratified and seeded), or
split folders `root/train/<class>/...` with optional `root/val/...` (or valid/, validation/) and
`root/test/...`, the absent ones split off train. Class names are the folder names, sorted.
Files are decoded once into a cache (nascli.data.cache); files that cannot be used are skipped,
counted and listed, and refused when more than `max_bad_fraction` of them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np

from nascli.data.assemble import assemble
from nascli.data.cache import decode_files, default_workers
from nascli.data.datasets import Augment, DataSplits
from nascli.data.files import FileImages
from nascli.data.images import GRAY_MODES, RESIZE_MODES, BadImage, Preprocess, image_mode
from nascli.errors import DatasetError

SPLIT_FOLDERS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
DECODE_MODES = ("auto", "cache", "files")
LAYOUT_HELP = ("Lay it out as root/<class>/<images> (e.g. root/cat/1.jpg, root/dog/2.png), or with split folders "
               "root/train/<class>/<images> and optionally root/val/... and root/test/....")


@dataclass
class Tree:
    """The image files of a folder dataset: their paths, labels and given split, the class names,
    and what was passed over (symlink loops, unreadable entries, files of other types)."""

    files: list[Path] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    other_files: int = 0  # files whose suffix is not one of the extensions (ignored, counted)
    layout: str = "class folders"  # or "split folders"


def _visible_dirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_dir())
    except OSError as exc:
        raise DatasetError(f"Cannot list {folder} ({exc.strerror or exc}); check that it exists and is readable.") from None


def _images_under(folder: Path, extensions: tuple[str, ...], tree: Tree) -> list[Path]:
    """The image files anywhere under `folder` (links followed once; a directory loop is skipped and listed)."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()

    def on_error(exc: OSError) -> None:
        tree.skipped.append((str(exc.filename), f"cannot be read ({exc.strerror or exc})"))

    for top, dirs, names in os.walk(folder, followlinks=True, onerror=on_error):
        try:
            st = os.stat(top)
        except OSError as exc:
            tree.skipped.append((top, f"cannot be read ({exc.strerror or exc})"))
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            tree.skipped.append((top, "a symbolic link loop back to a folder already read: not followed"))
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = Path(top) / name
            if path.suffix.lower() not in extensions:
                tree.other_files += 1
            elif not path.exists():
                tree.skipped.append((str(path), "a broken symbolic link"))
            else:
                found.append(path)
    return found


def scan(root: str | Path, extensions: tuple[str, ...]) -> Tree:
    """The files, labels and splits of a folder dataset, or a DatasetError saying what is wrong and what to do."""
    base = Path(root).expanduser()
    if not base.is_dir():
        what = "is not a folder" if base.exists() else "does not exist"
        raise DatasetError(f"dataset.root={root} {what}. Point dataset.root at the folder of your images. {LAYOUT_HELP}")
    top = _visible_dirs(base)
    split_dirs = {d.name.lower(): d for d in top if d.name.lower() in SPLIT_FOLDERS}
    by_split = "train" in split_dirs and len(split_dirs) == len(top)
    if not top:
        raise DatasetError(f"dataset.root={root} holds no class folders. {LAYOUT_HELP}")
    tree = Tree(layout="split folders" if by_split else "class folders")
    sources = [(SPLIT_FOLDERS[n], d) for n, d in split_dirs.items()] if by_split else [("train", base)]
    sources.sort(key=lambda item: ("train", "val", "test").index(item[0]))
    for split, folder in sources:
        class_dirs = _visible_dirs(folder)
        if split == "train":
            tree.class_names = [d.name for d in class_dirs]
            if len(class_dirs) < 2:
                raise DatasetError(f"{folder} holds {len(class_dirs)} class folder(s) ({', '.join(d.name for d in class_dirs) or 'none'}); "
                                   f"a classifier needs at least two. {LAYOUT_HELP}")
        for class_dir in class_dirs:
            if class_dir.name not in tree.class_names:
                raise DatasetError(f"{class_dir} is a class that {sources[0][1]} lacks; every class of {split}/ must "
                                   f"also be a class folder of train/ (classes: {', '.join(tree.class_names)}).")
            files = _images_under(class_dir, extensions, tree)
            if not files and split == "train":
                raise DatasetError(f"The class folder {class_dir} holds no images (files ending in "
                                   f"{', '.join(extensions)}). Add images, remove the folder, or widen dataset.extensions.")
            label = tree.class_names.index(class_dir.name)
            tree.files += files
            tree.labels += [label] * len(files)
            tree.splits += [split] * len(files)
    return tree


def _extensions(extensions: list[str]) -> tuple[str, ...]:
    cleaned = tuple("." + e.lower().lstrip(".") for e in extensions if str(e).strip("."))
    if not cleaned:
        raise DatasetError("dataset.extensions is empty; list the image suffixes to read, e.g. [.jpg, .png].")
    return cleaned


def _check_options(image_size: int, resize: str, channels: int | str) -> int | None:
    if image_size < 1:
        raise DatasetError(f"dataset.image_size must be a positive number of pixels, got {image_size}.")
    if resize not in RESIZE_MODES:
        raise DatasetError(f"dataset.resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}.")
    if channels not in ("auto", 1, 3, "1", "3"):
        raise DatasetError(f"dataset.channels must be auto, 1 or 3, got {channels!r}.")
    return None if channels == "auto" else int(channels)


def cache_limit_bytes(cache_limit_gb: float | None, cache_dir: str) -> int:
    """The decoded bytes a cache may hold at most: the option, or half the free space of cache_dir's disk."""
    if cache_limit_gb is not None:
        if cache_limit_gb <= 0:
            raise DatasetError(f"dataset.cache_limit_gb must be positive (or null for half the free space under "
                               f"dataset.cache_dir), got {cache_limit_gb}.")
        return int(cache_limit_gb * 2**30)
    where = Path(cache_dir).expanduser().absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        return shutil.disk_usage(where).free // 2
    except OSError:
        return 0


def _settle_channels(files: list[Path], wanted: int | None) -> int:
    """channels=auto without decoding: 1 when every file's header says grayscale, read until the first colour one."""
    if wanted is not None:
        return wanted
    for path in files:
        try:
            if image_mode(path) not in GRAY_MODES:
                return 3
        except BadImage:
            continue
    return 1


def _from_files(name: str, root: str, tree: Tree, image_size: int, resize: str, wanted: int | None,
                val_fraction: float, test_fraction: float, split_seed: int, max_train_samples: int | None,
                classes: list[int] | None, workers: int, crop_scale: list[float], eval_crop: float,
                augment: Augment, decoded_bytes: int) -> DataSplits:
    """DataSplits whose batches DataLoader workers decode from the files (nascli.data.files)."""
    if len(crop_scale) != 2 or not 0.0 < float(crop_scale[0]) <= float(crop_scale[1]) <= 1.0:
        raise DatasetError(f"dataset.crop_scale must be [low, high] with 0 < low <= high <= 1 (the share of an image's "
                           f"area a training crop covers; ImageNet: [0.08, 1.0]), got {list(crop_scale)}.")
    if not 0.0 < eval_crop <= 1.0:
        raise DatasetError(f"dataset.eval_crop must be in (0, 1] (ImageNet: 0.875, 256 px resized and 224 px kept), "
                           f"got {eval_crop}.")
    crop = float(eval_crop) if resize == "crop" else 1.0  # stretch and pad keep the whole image
    pre = Preprocess(image_size, resize, _settle_channels(tree.files, wanted), crop)
    images = FileImages([str(f) for f in tree.files], pre, (float(crop_scale[0]), float(crop_scale[1])), workers)
    splits = np.asarray(tree.splits)
    parts = {s: np.flatnonzero(splits == s) for s in ("train", "val", "test") if (splits == s).any()}
    data = assemble(name, images, np.asarray(tree.labels, dtype=np.int64), parts, tree.class_names, 255.0,  # type: ignore[arg-type]
                    val_fraction, test_fraction, split_seed, max_train_samples, augment, classes, None, pre.record())
    bad = tree.skipped
    data.source = {
        "root": str(Path(root).expanduser()), "layout": tree.layout, "files": len(tree.files), "bad": len(bad),
        "bad_files": [{"path": p, "why": w} for p, w in bad[:1000]], "other_files_ignored": tree.other_files,
        "decode": "files", "decoded_gb": round(decoded_bytes / 2**30, 3), "loader_workers": workers,
        "streamed": True,
    }
    return data


def folder_splits(
    name: str,
    root: str | None,
    image_size: int,
    resize: str,
    channels: int | str,
    extensions: list[str],
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    max_train_samples: int | None,
    max_bad_fraction: float,
    classes: list[int] | None,
    cache_dir: str,
    workers: int | None,
    memory_limit_gb: float | None,
    val_folder_split: str,
    decode: str,
    cache_limit_gb: float | None,
    crop_scale: list[float],
    eval_crop: float,
    augment: Augment,
) -> DataSplits:
    """Images in class folders under `root`, decoded once (cached), split train/val/test; or, when
    the decoded images would not fit the cache (decode=auto) or decode=files, decoded batch by
    batch from the files by DataLoader workers with the ImageNet transforms."""
    if not root:
        raise DatasetError(f"dataset=folder needs dataset.root=<folder of your images>. {LAYOUT_HELP}")
    wanted = _check_options(image_size, resize, channels)
    if not 0.0 <= max_bad_fraction <= 1.0:
        raise DatasetError(f"dataset.max_bad_fraction must be in [0, 1], got {max_bad_fraction}.")
    if decode not in DECODE_MODES:
        raise DatasetError(f"dataset.decode must be one of {', '.join(DECODE_MODES)}, got {decode!r}.")
    tree = scan(root, _extensions(extensions))
    if val_folder_split not in ("val", "test"):
        raise DatasetError(f"dataset.val_folder_split must be val or test, got {val_folder_split!r}.")
    if val_folder_split == "test" and "val" in tree.splits:
        if "test" in tree.splits:
            raise DatasetError(f"{root} has both a val/ and a test/ folder; dataset.val_folder_split=test would make both "
                               f"the test split. Set dataset.val_folder_split=val, or remove one of them.")
        tree.splits = ["test" if s == "val" else s for s in tree.splits]
    decoded_bytes = len(tree.files) * (wanted or 3) * image_size * image_size
    if decode == "files" or (decode == "auto" and decoded_bytes > cache_limit_bytes(cache_limit_gb, cache_dir)):
        return _from_files(name, root, tree, image_size, resize, wanted, val_fraction, test_fraction, split_seed,
                           max_train_samples, classes, default_workers() if workers is None else workers,
                           crop_scale, eval_crop, augment, decoded_bytes)
    decoded = decode_files(tree.files, image_size, resize, wanted, cache_dir, default_workers() if workers is None else workers,
                           f"decoding {len(tree.files)} images of {Path(root).name}")
    bad = [(str(tree.files[i]), why) for i, why in sorted(decoded.bad.items())] + tree.skipped
    if len(bad) > max_bad_fraction * max(1, len(tree.files)):
        listed = "\n".join(f"  {path}: {why}" for path, why in bad[:10]) + (f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise DatasetError(f"{len(bad)} of {len(tree.files)} files under {root} cannot be used, more than "
                           f"dataset.max_bad_fraction={max_bad_fraction} allows:\n{listed}\n"
                           f"Remove or repair them, or raise dataset.max_bad_fraction to skip them.")
    good = np.array([i not in decoded.bad for i in range(len(tree.files))], dtype=bool)
    splits = np.asarray(tree.splits)
    parts = {s: np.flatnonzero(good & (splits == s)) for s in ("train", "val", "test") if (splits == s).any()}
    pre = Preprocess(image_size, resize, decoded.channels)
    data = assemble(name, decoded.images, np.asarray(tree.labels, dtype=np.int64), parts, tree.class_names, 255.0,
                    val_fraction, test_fraction, split_seed, max_train_samples, augment, classes, memory_limit_gb,
                    pre.record(), decoded.sums)
    data.source = {
        "root": str(Path(root).expanduser()), "layout": tree.layout,
        "files": len(tree.files), "bad": len(bad), "bad_files": [{"path": p, "why": w} for p, w in bad[:1000]],
        "other_files_ignored": tree.other_files, "modes": decoded.modes,
        "converted": {m: n for m, n in decoded.modes.items() if m not in ("RGB", "L")},
        "cache": str(decoded.path), "cache_hit": decoded.hit, "decode_seconds": round(decoded.seconds, 3),
        "streamed": type(data.train).__name__ == "StreamSplit", "decode": "cache",
    }
    return data
