"""How one sound file becomes a clip: read (WAV through the standard library's `wave`, or `soundfile`
where installed), mixed to mono, resampled to the sample rate, cut or padded to the duration.

`read_clip` is the one function training data and `nas predict` both use; it raises nothing but
`BadAudio` for a file that cannot be used, so a caller can skip, count and list such files, as bad
images are. Resampling is a windowed-sinc polyphase filter written here in torch (torchaudio is an
optional, heavy dependency; its `resample` with a Hann window computes the same kind of filter).
"""

from __future__ import annotations

import importlib.util
import math
import wave
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

AUDIO_SUFFIXES: tuple[str, ...] = (".wav",)
LOWPASS_ZEROS = 6      # zero crossings of the sinc on each side of a tap: sharper with more, slower
ROLLOFF = 0.99         # the low-pass cut-off as a share of the lower rate's Nyquist frequency


class BadAudio(Exception):
    """One file that cannot be used as audio (not a WAV, truncated, empty, an unsupported encoding); str() says why."""


def _pcm_to_float(raw: bytes, width: int, channels: int) -> np.ndarray:
    """Interleaved PCM frames as float32 in [-1, 1), shape (frames, channels). 8-bit WAV is unsigned
    (silence is 128); 16-, 24- and 32-bit are signed little-endian."""
    if width == 1:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        bytes3 = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = bytes3[:, 0] | (bytes3[:, 1] << 8) | (bytes3[:, 2] << 16)
        value = np.where(value >= 1 << 23, value - (1 << 24), value)
        samples = value.astype(np.float32) / float(1 << 23)
    elif width == 4:
        samples = (np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0).astype(np.float32)
    else:
        raise BadAudio(f"{8 * width}-bit PCM is not supported (8, 16, 24 or 32-bit are)")
    return samples.reshape(-1, channels)


def _read_wave(path: Path) -> tuple[np.ndarray, int]:
    """(frames, channels) float32 and the sample rate of a PCM WAV, by the standard library."""
    try:
        with wave.open(str(path), "rb") as handle:
            channels, width, rate, count = (handle.getnchannels(), handle.getsampwidth(), handle.getframerate(),
                                            handle.getnframes())
            raw = handle.readframes(count)
    except wave.Error as exc:
        text = str(exc)
        hint = (" (a float or compressed WAV: pip install soundfile to read it)"
                if "unknown format" in text else "")
        raise BadAudio(f"not a PCM WAV file the wave module reads: {text}{hint}") from None
    except EOFError:
        raise BadAudio("truncated: the WAV header ends early") from None
    except OSError as exc:
        raise BadAudio(f"cannot be read: {exc.strerror or exc}") from None
    if channels < 1 or rate < 1:
        raise BadAudio(f"its header says {channels} channel(s) at {rate} Hz")
    usable = len(raw) - len(raw) % (width * channels)
    return _pcm_to_float(raw[:usable], width, channels), rate


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    """(frames, channels) float32 and the sample rate, by soundfile (libsndfile: float WAV, FLAC, OGG ...)."""
    import soundfile

    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - libsndfile's LibsndfileError / RuntimeError for any bad file
        raise BadAudio(f"not audio soundfile reads: {str(exc)[:200]}") from None
    return np.asarray(samples, dtype=np.float32), int(rate)


@lru_cache(maxsize=1)
def has_soundfile() -> bool:
    """Whether the optional soundfile package is installed (the nascli[audio] extra)."""
    return importlib.util.find_spec("soundfile") is not None


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """A file's samples mixed to mono (float32, in [-1, 1]) and its sample rate; BadAudio when unusable."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError as exc:
        raise BadAudio(f"cannot be read: {exc.strerror or exc}") from None
    if not head:
        raise BadAudio("an empty file")
    riff = head[:4] == b"RIFF" and head[8:12] == b"WAVE"
    if not riff and (path.suffix.lower() == ".wav" or not has_soundfile()):
        other = "" if path.suffix.lower() == ".wav" else " (other formats: pip install soundfile)"
        raise BadAudio(f"not a WAV file (no RIFF/WAVE header){other}")
    samples, rate = _read_soundfile(path) if has_soundfile() else _read_wave(path)
    if samples.shape[0] == 0:
        raise BadAudio("holds no samples (an empty WAV)")
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    if not np.all(np.isfinite(mono)):
        raise BadAudio("holds NaN or infinite samples")
    return np.ascontiguousarray(mono, dtype=np.float32), rate


@lru_cache(maxsize=16)
def _sinc_kernel(orig: int, new: int) -> tuple[torch.Tensor, int]:
    """The polyphase filter that takes `orig` input samples to `new` output samples (rates already
    divided by their gcd): (new, 1, taps) weights of a Hann-windowed sinc low-pass at ROLLOFF of the
    lower Nyquist frequency, and the taps' reach on each side (in input samples)."""
    cutoff = min(orig, new) * ROLLOFF  # in cycles per `orig` input samples' span
    reach = math.ceil(LOWPASS_ZEROS * orig / cutoff)
    taps = torch.arange(-reach, reach + orig, dtype=torch.float64)  # input offsets around each output block
    phase = torch.arange(new, dtype=torch.float64)[:, None] / new   # output j sits at input position j*orig/new
    t = (taps[None, :] / orig - phase) * cutoff                     # distance in units of the cut-off's period
    t = t.clamp(-LOWPASS_ZEROS, LOWPASS_ZEROS)
    window = torch.cos(t * math.pi / (2 * LOWPASS_ZEROS)) ** 2
    kernel = torch.special.sinc(t) * window * (cutoff / orig)
    return kernel.to(torch.float32).unsqueeze(1), reach


def resample(samples: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """`samples` (..., time) from orig_rate to new_rate Hz: band-limited (windowed-sinc) polyphase
    resampling; the output has ceil(time * new / orig) samples."""
    if orig_rate == new_rate:
        return samples
    g = math.gcd(int(orig_rate), int(new_rate))
    orig, new = int(orig_rate) // g, int(new_rate) // g
    kernel, reach = _sinc_kernel(orig, new)
    shape = samples.shape
    flat = samples.reshape(-1, 1, shape[-1]).float()
    padded = torch.nn.functional.pad(flat, (reach, reach + orig))
    blocks = torch.nn.functional.conv1d(padded, kernel, stride=orig)  # (B, new, blocks): phase j of block b
    out = blocks.transpose(1, 2).reshape(flat.shape[0], -1)
    length = -(-shape[-1] * new // orig)
    return out[:, :length].reshape(*shape[:-1], length)


def fit_length(samples: np.ndarray | torch.Tensor, length: int) -> torch.Tensor:
    """A clip of exactly `length` samples: longer ones keep their centre, shorter ones are padded with
    silence on both sides (centred), as a spoken word is centred in a Speech Commands clip."""
    x = torch.as_tensor(samples)
    n = int(x.shape[-1])
    if n > length:
        start = (n - length) // 2
        return x[..., start:start + length]
    if n < length:
        left = (length - n) // 2
        return torch.nn.functional.pad(x, (left, length - n - left))
    return x


def read_clip(path: str | Path, sample_rate: int, samples: int) -> torch.Tensor:
    """A file as `samples` mono float32 samples at `sample_rate` Hz; BadAudio when it cannot be used."""
    mono, rate = read_audio(path)
    wave_ = torch.from_numpy(mono)
    if rate != sample_rate:
        wave_ = resample(wave_, rate, sample_rate)
    return fit_length(wave_, samples).contiguous()
