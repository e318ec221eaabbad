"""One file to one network input: every Pillow mode users' files come in, each resize mode, and
the files that cannot be used (each a BadImage that says why, never another exception)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nascli.data.images import IMAGE_SUFFIXES, BadImage, Preprocess, decode, image_mode


def _save(img: Image.Image, path: Path) -> Path:
    img.save(path)
    return path


def test_preprocess_records_round_trip_through_json() -> None:
    import json

    pre = Preprocess(image_size=32, resize="pad", channels=1)
    assert Preprocess.from_record(json.loads(json.dumps(pre.record()))) == pre
    with pytest.raises(ValueError, match="resize"):
        Preprocess(32, "squash", 3)
    with pytest.raises(ValueError, match="channels"):
        Preprocess(32, "crop", 4)
    with pytest.raises(ValueError, match="not a preprocessing record"):
        Preprocess.from_record({"image_size": 32})


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "L", "LA", "CMYK", "I;16", "I", "F", "1"])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_mode_becomes_uint8_of_the_asked_channels(tmp_path: Path, mode: str, channels: int) -> None:
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8))
    if mode == "I;16":
        img = Image.fromarray((np.arange(600, dtype=np.uint16).reshape(20, 30) * 100))
    elif mode == "F":
        img = Image.fromarray(np.linspace(0, 1, 600, dtype=np.float32).reshape(20, 30))
    else:
        img = rgb.convert(mode)
    suffix = ".tif" if mode in ("CMYK", "I", "F") else ".png"
    out = decode(_save(img, tmp_path / f"x{suffix}"), Preprocess(16, "crop", channels))
    assert out.dtype == np.uint8 and out.shape == (channels, 16, 16) and out.flags["C_CONTIGUOUS"]


def test_sixteen_bit_intensities_are_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.full((8, 8), 65535, dtype=np.uint16)
    values[:, :4] = 0
    out = decode(_save(Image.fromarray(values), tmp_path / "deep.png"), Preprocess(8, "stretch", 1))
    assert out[0, 0, 0] == 0 and out[0, 0, 7] == 255


def test_transparency_is_composited_onto_white(tmp_path: Path) -> None:
    img = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    out = decode(_save(img, tmp_path / "clear.png"), Preprocess(8, "stretch", 3))
    assert (out == 255).all()


def test_crop_keeps_the_centre_stretch_keeps_everything_pad_adds_black(tmp_path: Path) -> None:
    # a 40x20 image: left quarter red, middle half green, right quarter blue
    array = np.zeros((20, 40, 3), dtype=np.uint8)
    array[:, :10, 0], array[:, 10:30, 1], array[:, 30:, 2] = 255, 255, 255
    path = _save(Image.fromarray(array), tmp_path / "wide.png")
    crop = decode(path, Preprocess(20, "crop", 3))
    assert crop.shape == (3, 20, 20) and crop[1].min() == 255 and crop[0].max() == 0  # only the green middle
    stretch = decode(path, Preprocess(20, "stretch", 3))
    assert stretch[0, :, 0].min() == 255 and stretch[2, :, -1].min() == 255  # red and blue both kept
    pad = decode(path, Preprocess(20, "pad", 3))
    assert (pad[:, :5] == 0).all() and (pad[:, -5:] == 0).all()  # black bands above and below
    assert pad[0, 10, 0] == 255 and pad[2, 10, -1] == 255


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    img = Image.new("L", (40, 20), 0)
    img.paste(255, (0, 0, 20, 20))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    img.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    out = decode(tmp_path / "phone.jpg", Preprocess(20, "pad", 1))
    assert out[0, 2, 10] > 200 and out[0, -3, 10] < 50  # the white half is now on top


def test_a_jpeg_much_larger_than_the_size_decodes_to_the_size(tmp_path: Path) -> None:
    big = Image.fromarray(np.random.default_rng(1).integers(0, 256, (600, 800, 3), dtype=np.uint8))
    out = decode(_save(big, tmp_path / "big.jpg"), Preprocess(32, "crop", 3))
    assert out.shape == (3, 32, 32)


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_a_file_that_is_not_an_image_is_a_bad_image(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "x.png").write_bytes(content)
    with pytest.raises(BadImage, match="not an image|cannot be decoded"):
        decode(tmp_path / "x.png", Preprocess(8, "crop", 3))
    with pytest.raises(BadImage):
        image_mode(tmp_path / "x.png")


def test_a_truncated_image_is_a_bad_image(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    path = _save(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), tmp_path / "cut.jpg")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(BadImage, match="truncated|cannot be decoded"):
        decode(path, Preprocess(8, "crop", 3))


def test_a_decompression_bomb_is_refused_by_pillows_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(Image.new("L", (100, 100)), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10,000 pixels is over twice the limit
    with pytest.raises(BadImage, match="decompression bomb"):
        decode(path, Preprocess(8, "crop", 1))


def test_suffixes_and_modes() -> None:
    assert {".jpg", ".png", ".webp", ".tiff"} <= set(IMAGE_SUFFIXES)


def test_image_mode_reads_the_header(tmp_path: Path) -> None:
    assert image_mode(_save(Image.new("P", (4, 4)), tmp_path / "p.gif")) == "P"
    assert image_mode(_save(Image.new("L", (4, 4)), tmp_path / "g.png")) == "L"
