"""How one image file becomes a network input: decode, convert its mode, resize to a square.

`Preprocess` is stored in checkpoints, so `nas predict` turns new files into inputs exactly as the
training images were. `decode` is the one function both use; it never raises anything but
`BadImage` for a file that cannot be used, so a caller can skip, count and list such files.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
RESIZE_MODES: tuple[str, ...] = ("crop", "stretch", "pad")
# Pillow modes with one channel of intensity (the 16-bit and float ones included)
GRAY_MODES: frozenset[str] = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


class BadImage(Exception):
    """One file that cannot be used (not an image, truncated, a decompression bomb); str() says why."""


@dataclass(frozen=True)
class Preprocess:
    """How a file becomes a network input: a square of `image_size` pixels with `channels` channels.

    resize: "crop" scales the shorter side to image_size and keeps the centre square (what ImageNet
    evaluation does); "stretch" scales each side to image_size; "pad" scales the longer side to
    image_size and pads the rest with black, so nothing is cut off.
    """

    image_size: int
    resize: str
    channels: int
    # "crop" only: the share of the shorter side the centre square keeps (ImageNet evaluation: 0.875,
    # 256 px resized, 224 px kept); 1.0 keeps the whole shorter side
    crop: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.image_size, int) or self.image_size < 1:
            raise ValueError(f"image_size must be a positive integer, got {self.image_size!r}")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {self.resize!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels!r}")
        if not 0.0 < self.crop <= 1.0:
            raise ValueError(f"crop must be in (0, 1], got {self.crop!r}")

    def record(self) -> dict[str, Any]:
        """The preprocessing as JSON-able facts (what checkpoints store)."""
        facts = asdict(self)
        if self.crop == 1.0:  # records of whole-side crops stay as they were before the option existed
            del facts["crop"]
        return {"format": "nascli.preprocess/1", **facts}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Preprocess:
        """The preprocessing a checkpoint stored; ValueError when the record is not one."""
        try:
            return cls(int(record["image_size"]), str(record["resize"]), int(record["channels"]),
                       float(record.get("crop", 1.0)))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a preprocessing record ({exc!r}): {record!r}") from None


def is_image_file(path: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> bool:
    """Whether `path`'s suffix is one of `suffixes` (any case)."""
    return path.suffix.lower() in suffixes


def image_mode(path: Path) -> str:
    """The file's Pillow mode ("RGB", "L", "P", "I;16", ...), read from its header alone; BadImage
    when it is not an image Pillow reads."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return str(img.mode)
    except Image.DecompressionBombError as exc:
        raise BadImage(f"decompression bomb refused by Pillow's limit ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types for a bad file
        raise BadImage(_why(exc)) from None


def decode(path: Path, pre: Preprocess) -> np.ndarray:
    """The image at `path` as uint8 (C, H, W) of `pre.channels` x `pre.image_size` squared, or BadImage.

    Modes are converted the same way for every file: transparency is composited onto white,
    palettes expanded, CMYK converted, 16-bit and float intensities scaled to 0..255, an EXIF
    rotation applied; the first frame of an animation is used."""
    return decode_with_mode(path, pre)[0]


def decode_with_mode(path: Path, pre: Preprocess) -> tuple[np.ndarray, str]:
    """decode(), and the Pillow mode the file came in (what channels=auto and the counts of
    converted files are decided from), from one opening of the file."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's palette/EXIF warnings: the conversion below settles them
            with Image.open(path) as img:
                mode = str(img.mode)
                if img.format == "JPEG":  # decode at the smallest DCT scale still at least image_size
                    img.draft("RGB" if pre.channels == 3 else "L", (pre.image_size, pre.image_size))
                img.load()
                img = _upright(img)
                img = _convert(img, pre.channels)
                img = _resize(img, pre.image_size, pre.resize, pre.crop)
    except Image.DecompressionBombError as exc:
        raise BadImage(f"decompression bomb refused by Pillow's limit ({exc})") from None
    except BadImage:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types for a bad file
        raise BadImage(_why(exc)) from None
    return _chw(img), mode


def from_image(img: Any, pre: Preprocess) -> np.ndarray:
    """An already opened Pillow image (a Hugging Face dataset's) as decode() makes a file's, or BadImage."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
            img = _resize(_convert(_upright(img), pre.channels), pre.image_size, pre.resize, pre.crop)
    except BadImage:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types for a bad image
        raise BadImage(_why(exc)) from None
    return _chw(img)


def _chw(img: Any) -> np.ndarray:
    """A converted, resized Pillow image as a contiguous uint8 (C, H, W) array."""
    array = np.asarray(img, dtype=np.uint8)
    return np.ascontiguousarray(array[None] if array.ndim == 2 else array.transpose(2, 0, 1))


def _why(exc: BaseException) -> str:
    from PIL import UnidentifiedImageError

    if isinstance(exc, UnidentifiedImageError):
        return "not an image Pillow can read"
    text = str(exc).strip() or type(exc).__name__
    return f"cannot be decoded ({text})"


def _upright(img: Any) -> Any:
    """The image turned as its EXIF orientation tag says (phone photos), else unchanged."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(img) or img
    except Exception:  # noqa: BLE001 - a broken EXIF block is not a broken image
        return img


def _convert(img: Any, channels: int) -> Any:
    """`img` as mode "L" (channels=1) or "RGB" (channels=3), whatever mode it came in."""
    from PIL import Image

    mode = img.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # 16-bit, 32-bit or float intensities
        values = np.asarray(img).astype(np.float64)
        if mode == "F":
            top = 1.0 if values.size and np.nanmax(values) <= 1.0 else 255.0
        else:
            top = 65535.0 if values.size and values.max() > 255 else 255.0
        scaled = np.clip(np.nan_to_num(values) * (255.0 / top), 0, 255).round().astype(np.uint8)
        img = Image.fromarray(scaled)
        mode = "L"
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    target = "L" if channels == 1 else "RGB"
    return img if img.mode == target else img.convert(target)


def _resize(img: Any, size: int, mode: str, crop: float = 1.0) -> Any:
    """`img` as a size x size square: centre crop of the shorter side (scaled to size / crop first),
    stretched, or padded."""
    from PIL import Image

    width, height = img.size
    if mode == "stretch":
        return img if (width, height) == (size, size) else img.resize((size, size), Image.BILINEAR)
    scale = (size / crop) / min(width, height) if mode == "crop" else size / max(width, height)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    if mode == "crop":
        new = (max(new[0], size), max(new[1], size))
    if new != (width, height):
        img = img.resize(new, Image.BILINEAR)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    if mode == "crop":
        return img.crop((left, top, left + size, top + size))
    canvas = Image.new(img.mode, (size, size), 0)
    canvas.paste(img, (-left, -top))
    return canvas
