"""Image folders generated with Pillow for the tests: class folders, split folders, every mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def picture(rng: np.random.Generator, label: int, size: tuple[int, int] = (24, 24), mode: str = "RGB") -> Image.Image:
    """A noisy image whose mean colour says its class (so a network can learn it), in `mode`."""
    width, height = size
    base = np.array([(60 + 90 * label) % 256, (200 - 70 * label) % 256, (30 + 50 * label) % 256], dtype=np.int64)
    pixels = np.clip(base + rng.integers(-40, 41, (height, width, 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(pixels)
    if mode == "I;16":
        return Image.fromarray(np.asarray(img.convert("L"), dtype=np.uint16) * 257)
    return img if mode == "RGB" else img.convert(mode)


def class_tree(root: Path, classes: dict[str, int], seed: int = 0, mode: str = "RGB", suffix: str = ".png",
               sizes: list[tuple[int, int]] | None = None) -> Path:
    """root/<class>/<i><suffix>: `classes` maps each class folder to its number of images."""
    rng = np.random.default_rng(seed)
    for label, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            size = sizes[i % len(sizes)] if sizes else (24, 24)
            picture(rng, label, size, mode).save(root / name / f"{i}{suffix}")
    return root
