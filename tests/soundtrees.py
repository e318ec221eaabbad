"""Sound files for tests, written with the standard library's `wave`: PCM WAV of any width, rate and
channel count, and folders of tone classes (each class a pitch, with noise), as a user's would be."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_wav(path: Path, samples: np.ndarray, rate: int, width: int = 2) -> Path:
    """`samples` (frames,) or (frames, channels) floats in [-1, 1] as a PCM WAV of `width` bytes a sample
    (1: unsigned 8-bit, 2, 3, 4: signed little-endian)."""
    x = np.asarray(samples, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    full = float(1 << (8 * width - 1))
    ints = np.clip(np.round(x * full), -full, full - 1).astype(np.int64)
    if width == 1:
        raw = (ints + 128).astype(np.uint8).tobytes()
    elif width == 3:
        u = ints.reshape(-1) & 0xFFFFFF
        raw = np.stack([u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
    else:
        raw = ints.astype(f"<i{width}").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(x.shape[1])
        handle.setsampwidth(width)
        handle.setframerate(rate)
        handle.writeframes(raw)
    return path


def tone(freq: float, seconds: float, rate: int, rng: np.random.Generator, noise: float = 0.1) -> np.ndarray:
    """A sine of `freq` Hz (pitch jittered by 2%) at amplitude 0.5 with white noise."""
    t = np.arange(int(rate * seconds)) / rate
    return 0.5 * np.sin(2 * np.pi * freq * (1 + 0.02 * rng.standard_normal()) * t) + noise * rng.standard_normal(len(t))


def tone_tree(root: Path, per_class: int = 20, pitches: dict[str, float] | None = None, seed: int = 0) -> Path:
    """root/<class>/<i>.wav: one class per pitch, clips of 0.4-0.6 s at 8, 11.025 and 16 kHz, 16-bit (every
    fifth 8-bit, every seventh stereo)."""
    rng = np.random.default_rng(seed)
    for name, freq in (pitches or {"low": 300.0, "mid": 800.0, "high": 2000.0}).items():
        for i in range(per_class):
            rate = (8000, 11025, 16000)[i % 3]
            clip = tone(freq, rng.uniform(0.4, 0.6), rate, rng)
            if i % 7 == 3:
                clip = np.stack([clip, clip], axis=1)
            write_wav(root / name / f"{i:03d}.wav", clip, rate, width=1 if i % 5 == 4 else 2)
    return root


KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")


def speech_commands_tree(root: Path, per_word: int = 6, others: tuple[str, ...] = ("cat", "dog"), rate: int = 16000,
                         seed: int = 0) -> Path:
    """Speech Commands in miniature: a tone per word (1 s clips at `rate`), the last two clips of each word
    named in validation_list.txt and testing_list.txt, and two background-noise recordings of 3 s."""
    rng = np.random.default_rng(seed)
    val, test = [], []
    for k, word in enumerate((*KEYWORDS, *others)):
        for i in range(per_word):
            name = f"{word}/spk{i:02d}_nohash_0.wav"
            write_wav(root / name, tone(200.0 * 1.25 ** k, 1.0, rate, rng), rate)
            (val if i == per_word - 2 else test if i == per_word - 1 else []).append(name)
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    for k in range(2):
        write_wav(root / "_background_noise_" / f"noise{k}.wav", 0.3 * rng.standard_normal(rate * 3), rate)
    return root
