"""dataset=arrays: the user's arrays as a dataset, AutoKeras's fit(x, y) without Python.

One `.npz`, a folder (or an x `.npy` beside a y `.npy`), or a `.pt` of tensors (read with
weights_only), holding images x as (N, H, W), (N, H, W, C) or (N, C, H, W) and integer labels y;
optionally `class_names` and given splits (`x_val`/`y_val`, `x_test`/`y_test`). uint8 and uint16
keep their range, other non-negative integers scale by their largest value, floats stay floats
(normalised by their mean and std like every dataset).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nascli.data.assemble import assemble
from nascli.data.datasets import Augment, DataSplits
from nascli.errors import DatasetError

LAYOUTS = ("auto", "NHW", "NHWC", "NCHW")


def _read(path: Path, keys: list[str]) -> dict[str, Any]:
    """The arrays (and lists) of a .npz, .pt, or folder of .npy files, by name."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            import zipfile

            if not zipfile.is_zipfile(path):
                raise DatasetError(f"{path} cannot be read as arrays (it is not a .npz archive). Save x and y with "
                                   f"np.savez(path, x=x, y=y).")
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        if suffix in (".pt", ".pth"):
            import torch

            content = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(content, dict):
                raise DatasetError(f"{path} holds a {type(content).__name__}; dataset=arrays reads a dict of tensors "
                                   f"(torch.save({{'x': x, 'y': y}}, path)).")
            return {str(k): v.numpy() if isinstance(v, torch.Tensor) else v for k, v in content.items()}
        folder = path if path.is_dir() else path.parent
        found = {k: folder / f"{k}.npy" for k in keys if (folder / f"{k}.npy").is_file()}
        if path.suffix.lower() == ".npy" and keys:
            found[keys[0]] = path
        return {k: np.load(p, mmap_mode="r", allow_pickle=False) for k, p in found.items()}
    except DatasetError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DatasetError(f"{path} holds Python objects, which are never unpickled; save plain arrays "
                               f"(class names as a string array: np.array(names)).") from None
        raise DatasetError(f"{path} cannot be read as arrays ({exc}).") from None
    except Exception as exc:  # noqa: BLE001 - zipfile, torch and numpy raise many types for a bad file
        raise DatasetError(f"{path} cannot be read as arrays ({type(exc).__name__}: {str(exc)[:200]}). "
                           f"Save x and y with np.savez(path, x=x, y=y) or torch.save({{'x': x, 'y': y}}, path).") from None


def _layout(x: np.ndarray, layout: str, where: str) -> np.ndarray:
    """x as (N, C, H, W) by `layout` (auto: guessed from which axes hold 1 or 3 channels and a square)."""
    if x.ndim == 3 and layout in ("auto", "NHW"):
        x, layout = x[:, None], "NCHW"
    elif x.ndim != 4 or layout == "NHW":
        raise DatasetError(f"{where} has shape {tuple(x.shape)}; images must be (N, H, W), (N, H, W, C) or (N, C, H, W)"
                           f"{' (dataset.layout=' + layout + ')' if layout != 'auto' else ''}.")
    if layout == "auto":
        first, last = x.shape[1] in (1, 3, 4) and x.shape[2] == x.shape[3], x.shape[3] in (1, 3, 4) and x.shape[1] == x.shape[2]
        if first == last:
            raise DatasetError(f"Cannot tell whether {where} of shape {tuple(x.shape)} is (N, H, W, C) or (N, C, H, W); "
                               f"say which with dataset.layout=NHWC or dataset.layout=NCHW.")
        layout = "NCHW" if first else "NHWC"
    out = x if layout == "NCHW" else x.transpose(0, 3, 1, 2)
    if out.shape[2] != out.shape[3]:
        raise DatasetError(f"Read as {layout}, {where} of shape {tuple(x.shape)} holds {out.shape[2]}x{out.shape[3]} images with "
                           f"{out.shape[1]} channels; networks take square images. Check dataset.layout "
                           f"(NHWC or NCHW), or resize the images to a square.")
    return out


def _pixels(x: np.ndarray, where: str) -> tuple[np.ndarray, float]:
    """x in a dtype torch takes, and the value that maps to 1.0; NaN or inf is an error."""
    if x.dtype == np.uint8:
        return x, 255.0
    if x.dtype == np.bool_:
        return x.astype(np.uint8), 1.0
    if np.issubdtype(x.dtype, np.floating):
        values = np.asarray(x, dtype=np.float32)
        bad = ~np.isfinite(values)
        if bad.any():
            first = np.unravel_index(int(np.argmax(bad)), values.shape)
            raise DatasetError(f"{where} holds {int(bad.sum())} NaN or infinite values (the first in image {first[0]}); "
                               f"replace them (np.nan_to_num) or drop those images.")
        return values, 1.0
    if np.issubdtype(x.dtype, np.integer):
        if x.dtype == np.uint16:
            return x.astype(np.int32), 65535.0
        low, high = int(x.min()) if x.size else 0, int(x.max()) if x.size else 1
        if low < 0:
            return x.astype(np.float32), 1.0  # signed data: normalised by mean and std alone
        return x.astype(np.int32), float(max(1, high))
    raise DatasetError(f"{where} has dtype {x.dtype}; images must be numbers (integers or floats).")


def _labels(y: Any, n: int, where: str, num_classes: int | None) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise DatasetError(f"{where} has shape {tuple(y.shape)} but its images number {n}; labels must be one integer per image.")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DatasetError(f"{where} holds labels that are not integers (e.g. {y[~(y == np.round(y))][:3].tolist()}); "
                               f"labels must be class ids 0..k-1.")
    elif not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{where} has dtype {y.dtype}; labels must be integer class ids 0..k-1 (names go in class_names).")
    y = y.astype(np.int64)
    if len(y) and (y.min() < 0 or (num_classes is not None and y.max() >= num_classes)):
        top = f"{num_classes - 1} (class_names lists {num_classes})" if num_classes is not None else "k-1"
        bad = y[(y < 0) | (y >= (num_classes if num_classes is not None else np.iinfo(np.int64).max))]
        raise DatasetError(f"{where} holds labels out of range ({sorted(set(bad.tolist()))[:5]}); they must be 0..{top}.")
    return y


def array_splits(
    name: str,
    path: str | None,
    x_key: str,
    y_key: str,
    class_names_key: str,
    layout: str,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    max_train_samples: int | None,
    classes: list[int] | None,
    memory_limit_gb: float | None,
    augment: Augment,
) -> DataSplits:
    """Images and labels from the user's arrays, split train/val/test (given splits kept)."""
    if not path:
        raise DatasetError("dataset=arrays needs dataset.path=<file.npz | file.pt | folder of x.npy and y.npy>.")
    if layout not in LAYOUTS:
        raise DatasetError(f"dataset.layout must be one of {', '.join(LAYOUTS)}, got {layout!r}.")
    file = Path(path).expanduser()
    if not file.exists():
        raise DatasetError(f"dataset.path={path} does not exist; point it at your .npz, .pt, or folder of .npy files.")
    keys = [x_key, y_key, *(f"{k}_{s}" for s in ("val", "test") for k in (x_key, y_key)), class_names_key]
    content = _read(file, keys)
    if x_key not in content or y_key not in content:
        raise DatasetError(f"{file} holds no {x_key!r} and {y_key!r} (it holds: {', '.join(sorted(content)) or 'nothing'}); "
                           f"name them so, or set dataset.x_key / dataset.y_key.")
    names = content.get(class_names_key)
    class_names = [str(c) for c in np.asarray(names).tolist()] if names is not None else None
    xs, ys, parts, start, max_value = [], [], {}, 0, None
    for split, suffix in (("train", ""), ("val", "_val"), ("test", "_test")):
        xk, yk = x_key + suffix, y_key + suffix
        if split != "train" and (xk in content) != (yk in content):
            raise DatasetError(f"{file} holds {xk if xk in content else yk} without {yk if xk in content else xk}; give both or neither.")
        if xk not in content:
            continue
        x = _layout(np.asarray(content[xk]) if not isinstance(content[xk], np.memmap) else content[xk], layout, f"{file}:{xk}")
        if xs and x.shape[1:] != xs[0].shape[1:]:
            raise DatasetError(f"{file}:{xk} holds images of shape {x.shape[1:]}, {x_key} of {xs[0].shape[1:]}; every split must match.")
        x, top = _pixels(x, f"{file}:{xk}")
        max_value = top if max_value is None else max(max_value, top)
        ys.append(_labels(content[yk], len(x), f"{file}:{yk}", len(class_names) if class_names else None))
        xs.append(x)
        parts[split] = np.arange(start, start + len(x))
        start += len(x)
    images = xs[0] if len(xs) == 1 and xs[0].flags["C_CONTIGUOUS"] else np.ascontiguousarray(np.concatenate(xs))
    labels = np.concatenate(ys)
    if class_names is None:
        class_names = [str(c) for c in range(int(labels.max()) + 1 if len(labels) else 0)]
    if len(class_names) < 2:
        raise DatasetError(f"{file} has {len(class_names)} class(es); a classifier needs at least two.")
    data = assemble(name, images, labels, parts, class_names, float(max_value), val_fraction, test_fraction, split_seed,
                    max_train_samples, augment, classes, memory_limit_gb, None)
    data.source = {"path": str(file), "dtype": str(xs[0].dtype), "given_splits": sorted(parts),
                   "streamed": type(data.train).__name__ == "StreamSplit"}
    return data
