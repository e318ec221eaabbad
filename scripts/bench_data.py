"""Decode once, and bounded memory: dataset=folder against torchvision's ImageFolder + DataLoader.

    python scripts/bench_data.py                      # 3,000 400x300 JPEGs, 2 workers, the RSS table at 3 sizes
    python scripts/bench_data.py --images 300 --rss-images 200   # a quick look

Prints (1) first-run decoding in images/s: nascli's parallel decode into its cache against one
epoch of ImageFolder + DataLoader with the same number of workers and the same resize and centre
crop; (2) the second run's start: building the dataset from the cache against ImageFolder's scan
plus its first batch and its whole epoch (what it decodes again every epoch); (3) peak RSS of a
process that builds a folder dataset and reads one training epoch of batches, in memory and
streamed from the cache, and decoded from the files by DataLoader workers (dataset.decode=files,
the mode for data too large to cache; its worker's peak beside it), as the dataset grows to 3x a
deliberately small dataset.memory_limit_gb; and (4) one training epoch of decode=files (random
resized crop and flip in the workers) against ImageFolder + DataLoader doing the same.
Images are generated JPEGs (noise over a class colour), written to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]


def make_tree(root: Path, images: int, classes: int, size: tuple[int, int], seed: int) -> Path:
    """`images` JPEGs of `size` in `classes` class folders."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(images):
        label = i % classes
        folder = root / f"class_{label:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        colour = np.array([(37 * label) % 256, (91 * label) % 256, (150 + 23 * label) % 256])
        pixels = np.clip(colour + rng.integers(-50, 51, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:06d}.jpg", quality=90)
    return root


def nascli_build(root: Path, cache: Path, size: int, workers: int, limit: float | None = None) -> tuple[float, object]:
    from nascli.runtime.config import build_option

    start = time.perf_counter()
    data = build_option("dataset", "folder", {"root": str(root), "cache_dir": str(cache), "image_size": size,
                                              "workers": workers, "memory_limit_gb": limit})
    return time.perf_counter() - start, data


def imagefolder_epoch(root: Path, size: int, workers: int, batch: int) -> tuple[float, float, float]:
    """(scan seconds, seconds to the first batch, seconds for the epoch) of ImageFolder + DataLoader."""
    import torch
    from torchvision import datasets, transforms

    start = time.perf_counter()
    transform = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()])
    ds = datasets.ImageFolder(str(root), transform=transform)
    scanned = time.perf_counter() - start
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=workers)
    first = None
    for _ in loader:
        first = first or time.perf_counter() - start
    return scanned, first or 0.0, time.perf_counter() - start


RSS_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads(1)
from nascli.runtime.config import build_option
from nascli.data.loader import BatchLoader
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
data = build_option("dataset", "folder", {{"root": {tree!r}, "cache_dir": {cache!r}, "image_size": {size},
    "workers": {workers}, "memory_limit_gb": {limit}, "val_fraction": 0.0, "test_fraction": 0.0, "decode": {decode!r}}})
for x, y in BatchLoader(data.train, data, 256, train=True, seed=0):
    pass
print(json.dumps({{"base_mb": base / 1024, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "streamed": data.describe()["source"]["streamed"]}}))
"""


def peak_rss(tree: Path, cache: Path, size: int, workers: int, limit: float | None, decode: str = "cache") -> dict:
    code = RSS_CHILD.format(root=str(ROOT), tree=str(tree), cache=str(cache), size=size, workers=workers,
                            limit="None" if limit is None else repr(limit), decode=decode)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def files_epoch(root: Path, cache: Path, size: int, workers: int, batch: int) -> float:
    """Seconds for one training epoch of dataset.decode=files batches (random resized crop, flip)."""
    from nascli.data.loader import BatchLoader
    from nascli.runtime.config import build_option

    data = build_option("dataset", "folder", {"root": str(root), "cache_dir": str(cache), "image_size": size,
                                              "workers": workers, "decode": "files", "val_fraction": 0.0,
                                              "test_fraction": 0.0})
    start = time.perf_counter()
    for _ in BatchLoader(data.train, data, batch, train=True, seed=0):
        pass
    return time.perf_counter() - start


def imagefolder_train_epoch(root: Path, size: int, workers: int, batch: int) -> float:
    """Seconds for one epoch of ImageFolder + DataLoader with RandomResizedCrop and a flip."""
    import torch
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(),
                                    transforms.PILToTensor()])
    loader = torch.utils.data.DataLoader(datasets.ImageFolder(str(root), transform=transform), batch_size=batch,
                                         shuffle=True, num_workers=workers)
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=3000, help="JPEGs of the decode benchmark")
    parser.add_argument("--source-size", type=int, nargs=2, default=(400, 300), help="width height of the JPEGs (photos are larger than the networks' input)")
    parser.add_argument("--image-size", type=int, default=64, help="dataset.image_size")
    parser.add_argument("--workers", type=int, default=2, help="decode processes = DataLoader workers")
    parser.add_argument("--rss-images", type=int, default=2000, help="images of the smallest RSS dataset (1x the limit)")
    parser.add_argument("--rss-size", type=int, default=64, help="image_size of the RSS datasets")
    parser.add_argument("--rss-factors", type=int, nargs="+", default=(1, 2, 3),
                        help="RSS datasets of these multiples of --rss-images (each one 4 runs in a fresh process)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import importlib

    for module in ("torchvision.datasets", "nascli.data.folder"):  # imports are paid before any clock starts
        importlib.import_module(module)
    console = Console(width=None if sys.stdout.isatty() else 120)  # piped: wide enough for the RSS table's columns
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        tree = make_tree(tmp / "photos", args.images, 10, tuple(args.source_size), 0)
        first, _ = nascli_build(tree, tmp / "cache", args.image_size, args.workers)
        second, _ = nascli_build(tree, tmp / "cache", args.image_size, args.workers)
        scan, first_batch, epoch = imagefolder_epoch(tree, args.image_size, args.workers, 256)
        table = Table(title=f"{args.images} JPEGs {args.source_size[0]}x{args.source_size[1]} -> {args.image_size}px, "
                            f"{args.workers} workers")
        for column in ("", "nascli dataset=folder", "ImageFolder + DataLoader", "ratio"):
            table.add_column(column, justify="right")
        table.add_row("first run, images/s", f"{args.images / first:,.0f}", f"{args.images / epoch:,.0f}", f"{epoch / first:.2f}x")
        table.add_row("second run start, s", f"{second:.3f}", f"{first_batch:.3f} (scan {scan:.3f})", f"{first_batch / second:.1f}x")
        table.add_row("second run, every epoch's data, s", f"{second:.3f}", f"{epoch:.3f}", f"{epoch / second:.1f}x")
        ours = files_epoch(tree, tmp / "unused", args.image_size, args.workers, 256)
        theirs = imagefolder_train_epoch(tree, args.image_size, args.workers, 256)
        table.add_row("decode=files training epoch, images/s", f"{args.images / ours:,.0f}", f"{args.images / theirs:,.0f}",
                      f"{theirs / ours:.2f}x")
        console.print(table)

        per_image = 3 * args.rss_size * args.rss_size
        limit = args.rss_images * per_image / 2**30
        rss = Table(title=f"peak RSS of build + one epoch (MB), memory_limit_gb={limit:.4f} ({args.rss_images * per_image / 2**20:.0f} MB)",
                    caption="from files: dataset.decode=files; its worker: the DataLoader worker's peak")
        for column in ("images", "decoded", "x limit", "in memory", "streamed", "streamed - import", "from files",
                       "its worker"):
            rss.add_column(column, justify="right")
        for factor in args.rss_factors:
            n = args.rss_images * factor
            sized = make_tree(tmp / f"rss{factor}", n, 10, (args.rss_size, args.rss_size), factor)
            cache = tmp / f"rss_cache{factor}"
            peak_rss(sized, cache, args.rss_size, args.workers, 1e6)  # decode once, so both runs below read the cache
            held = peak_rss(sized, cache, args.rss_size, args.workers, 1e6)
            streamed = peak_rss(sized, cache, args.rss_size, args.workers, limit * 0.999)
            files = peak_rss(sized, cache, args.rss_size, max(1, args.workers), None, decode="files")
            assert streamed["streamed"] and not held["streamed"] and files["streamed"]
            rss.add_row(f"{n:,}", f"{n * per_image / 2**20:.0f}", f"{factor}", f"{held['peak_mb']:.0f}",
                        f"{streamed['peak_mb']:.0f}", f"{streamed['peak_mb'] - streamed['base_mb']:.0f}",
                        f"{files['peak_mb']:.0f}", f"{files['worker_peak_mb']:.0f}")
        console.print(rss)


if __name__ == "__main__":
    main()
