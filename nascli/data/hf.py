"""dataset=hf: a Hugging Face dataset (the optional extra nascli[hf], the `datasets` library), saved on
disk with save_to_disk or named on the hub, as DataSplits.

Its `train` split is the training pool; `validation` (or `valid`, `val`) and `test` are kept when
present, the absent ones split off train, stratified and seeded. The image column is resized as a
folder's images are (image_size, resize, channels); a ClassLabel label column gives the class names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nascli.data.assemble import assemble
from nascli.data.datasets import Augment, DataSplits
from nascli.data.folder import _check_options
from nascli.data.images import GRAY_MODES, BadImage, Preprocess, from_image
from nascli.errors import DatasetError

EXTRA = "pip install 'nascli[hf]'"
SPLIT_NAMES = {"train": "train", "validation": "val", "valid": "val", "val": "val", "test": "test"}


def _library() -> Any:
    try:
        import datasets
    except ImportError:
        raise DatasetError(f"dataset=hf needs the Hugging Face `datasets` library, the optional extra nascli[hf]: "
                           f"{EXTRA}") from None
    return datasets


def _load(path: str | None, hub: str | None, config_name: str | None, cache_dir: str) -> dict[str, Any]:
    """The dataset's splits by name (a single saved Dataset is its train split)."""
    datasets = _library()
    if (path is None) == (hub is None):
        raise DatasetError("dataset=hf needs exactly one of dataset.path=<a folder written by save_to_disk> or "
                           "dataset.hub=<a hub name, e.g. cifar10>.")
    try:
        if path is not None:
            if not Path(path).expanduser().is_dir():
                raise DatasetError(f"dataset.path={path} is not a folder; point it at what save_to_disk wrote.")
            loaded = datasets.load_from_disk(str(Path(path).expanduser()))
        else:
            loaded = datasets.load_dataset(hub, config_name, cache_dir=str(Path(cache_dir).expanduser()))
    except DatasetError:
        raise
    except Exception as exc:  # noqa: BLE001 - the library raises many types for a missing or unreadable dataset
        where = f"dataset.path={path}" if path is not None else f"dataset.hub={hub}"
        raise DatasetError(f"{where} cannot be loaded by the datasets library ({type(exc).__name__}: {exc}).") from None
    if isinstance(loaded, datasets.Dataset):
        return {"train": loaded}
    return dict(loaded)


def _class_names(split: Any, label_column: str, datasets: Any) -> list[str] | None:
    feature = split.features[label_column]
    return list(feature.names) if isinstance(feature, datasets.ClassLabel) else None


def hf_splits(
    name: str,
    path: str | None,
    hub: str | None,
    config_name: str | None,
    image_column: str,
    label_column: str,
    image_size: int,
    resize: str,
    channels: int | str,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    max_train_samples: int | None,
    max_bad_fraction: float,
    classes: list[int] | None,
    cache_dir: str,
    augment: Augment,
) -> DataSplits:
    """A Hugging Face dataset's images and labels, resized to image_size, split train/val/test."""
    from rich import get_console

    from nascli.runtime.console import progress

    wanted = _check_options(image_size, resize, channels)
    splits = _load(path, hub, config_name, cache_dir)
    datasets = _library()
    given = {SPLIT_NAMES[k]: v for k, v in splits.items() if k in SPLIT_NAMES}
    if "train" not in given:
        raise DatasetError(f"The dataset has no train split (it has {', '.join(splits) or 'none'}); nascli trains on "
                           f"the split named train.")
    for split_name, split in given.items():
        for key, column in (("image_column", image_column), ("label_column", label_column)):
            if column not in split.column_names:
                raise DatasetError(f"dataset.{key}={column} is not a column of the {split_name} split; its columns are "
                                   f"{', '.join(split.column_names)}. Set dataset.{key}=<one of them>.")
        if not isinstance(split.features[image_column], datasets.Image):
            raise DatasetError(f"dataset.image_column={image_column} holds {split.features[image_column]}, not images; "
                               f"name the column of Image features.")
    class_names = _class_names(given["train"], label_column, datasets)
    pre = Preprocess(image_size, resize, 3 if wanted is None else wanted)
    rows: list[np.ndarray] = []
    labels: list[int] = []
    parts: dict[str, list[int]] = {}
    modes: set[str] = set()
    bad: list[tuple[str, str]] = []
    total = sum(len(s) for s in given.values())
    with progress(get_console()) as bar:
        task = bar.add_task(f"decoding {total} images", total=total, info="")
        for split_name in ("train", "val", "test"):
            if split_name not in given:
                continue
            for i, record in enumerate(given[split_name]):
                label = record[label_column]
                if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label < 0:
                    raise DatasetError(f"dataset.label_column={label_column}: row {i} of the {split_name} split holds "
                                       f"{label!r}; labels must be non-negative integers (class ids).")
                try:
                    image = record[image_column]
                    modes.add(str(image.mode))
                    rows.append(from_image(image, pre))
                except BadImage as exc:
                    bad.append((f"{split_name}[{i}]", str(exc)))
                    bar.update(task, advance=1)
                    continue
                parts.setdefault(split_name, []).append(len(labels))
                labels.append(int(label))
                bar.update(task, advance=1)
    if len(bad) > max_bad_fraction * max(1, total):
        listed = "\n".join(f"  {where}: {why}" for where, why in bad[:10])
        raise DatasetError(f"{len(bad)} of {total} images cannot be used, more than dataset.max_bad_fraction="
                           f"{max_bad_fraction} allows:\n{listed}\nRaise dataset.max_bad_fraction to skip them.")
    if "train" not in parts:
        raise DatasetError("The dataset's train split holds no usable images.")
    images = np.stack(rows)
    if wanted is None and modes and all(mode in GRAY_MODES for mode in modes):
        images = np.ascontiguousarray(images[:, :1])
        pre = Preprocess(image_size, resize, 1)
    count = max(labels) + 1
    if class_names is None:
        class_names = [str(c) for c in range(count)]
    elif count > len(class_names):
        raise DatasetError(f"dataset.label_column={label_column} holds class id {count - 1}, beyond its "
                           f"{len(class_names)} ClassLabel names.")
    data = assemble(name, images, np.asarray(labels, dtype=np.int64), {k: np.asarray(v) for k, v in parts.items()},
                    class_names, 255.0, val_fraction, test_fraction, split_seed, max_train_samples, augment, classes,
                    None, pre.record())
    data.source = {"path": path, "hub": hub, "splits": sorted(given), "images": total, "bad": len(bad),
                   "bad_files": [{"path": p, "why": w} for p, w in bad[:1000]], "modes": sorted(modes)}
    return data
