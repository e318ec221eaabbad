"""Log-mel spectrograms in torch: how clips become the 1-channel square inputs every image space takes.

The conventions are torchaudio's `MelSpectrogram` defaults (a periodic Hann window as long as
`n_fft`, centred frames with reflect padding, the power spectrum, HTK mel scale, triangular filters
without area normalisation) followed by its `AmplitudeToDB` defaults (10 log10, floor 1e-10, no
top_db), so where torchaudio is installed its output agrees within float tolerance. The filter bank
is built here; torchaudio is not needed.

Image spaces take square inputs (nascli.data.datasets.DataShape): by default the hop is chosen so the
clip gives as many frames as there are mel bands; an explicit `hop_length` gives its own number of
frames, then linearly resampled along time to `n_mels` (stated in the record).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import torch

FORMAT = "nascli.audio/1"
AMIN = 1e-10  # the power floor before the logarithm (torchaudio's AmplitudeToDB default)


def hz_to_mel(hz: torch.Tensor | float) -> torch.Tensor:
    """The HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(hz, dtype=torch.float64) / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(n_freqs: int, sample_rate: int, n_mels: int, f_min: float, f_max: float) -> torch.Tensor:
    """(n_freqs, n_mels) triangular filters on the HTK mel scale: filter m rises from the (m)th to the
    (m+1)th of n_mels + 2 points spaced evenly in mel between f_min and f_max, and falls to the
    (m+2)th; the STFT bins sit at 0 .. sample_rate // 2 Hz (torchaudio's grid)."""
    bins = torch.linspace(0, sample_rate // 2, n_freqs, dtype=torch.float64)
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2, dtype=torch.float64))
    low, centre, high = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins[:, None] - low[None, :]) / (centre - low)[None, :]
    falling = (high[None, :] - bins[:, None]) / (high - centre)[None, :]
    return torch.clamp(torch.minimum(rising, falling), min=0.0).to(torch.float32)


@dataclass(frozen=True)
class AudioFeatures:
    """How a sound file becomes a network input: `duration` seconds at `sample_rate` Hz, a log-mel
    spectrogram of `n_mels` bands over `n_fft`-sample windows, `n_mels` frames (a square, 1 channel).
    Stored in checkpoints, so `nas predict` turns new files into inputs as the training clips were."""

    sample_rate: int
    duration: float
    n_fft: int
    hop_length: int | None  # None: chosen so the clip gives n_mels frames
    n_mels: int
    f_min: float
    f_max: float | None     # None: sample_rate / 2

    def __post_init__(self) -> None:
        if self.sample_rate < 1000:
            raise ValueError(f"sample_rate must be at least 1000 Hz, got {self.sample_rate}")
        if not self.duration > 0:
            raise ValueError(f"duration must be positive seconds, got {self.duration}")
        if self.n_mels < 4:
            raise ValueError(f"n_mels must be at least 4, got {self.n_mels}")
        if self.n_fft < 16 or self.n_fft > self.samples:
            raise ValueError(f"n_fft must be between 16 and the clip's {self.samples} samples, got {self.n_fft}")
        if self.hop_length is not None and not 1 <= self.hop_length <= self.samples:
            raise ValueError(f"hop_length must be between 1 and the clip's {self.samples} samples, got {self.hop_length}")
        if not 0 <= self.f_min < self.top:
            raise ValueError(f"f_min must be in [0, f_max), got f_min={self.f_min}, f_max={self.top}")
        if self.top > self.sample_rate / 2:
            raise ValueError(f"f_max must be at most half the sample rate ({self.sample_rate / 2:g} Hz), got {self.top}")
        if self.n_fft // 2 + 1 < self.n_mels:
            raise ValueError(f"n_fft={self.n_fft} gives {self.n_fft // 2 + 1} frequency bins, fewer than n_mels={self.n_mels}")

    @property
    def samples(self) -> int:
        return int(round(self.sample_rate * self.duration))

    @property
    def top(self) -> float:
        return float(self.sample_rate) / 2 if self.f_max is None else float(self.f_max)

    @property
    def hop(self) -> int:
        """The hop in samples: the given one, or the one giving n_mels centred frames (cut to n_mels)."""
        return self.hop_length if self.hop_length is not None else max(1, self.samples // (self.n_mels - 1))

    @property
    def size(self) -> int:
        """The side of the square input."""
        return self.n_mels

    def record(self) -> dict[str, Any]:
        """The settings as JSON-able facts (what checkpoints store, beside images' `preprocess`)."""
        return {"format": FORMAT, "kind": "audio", **asdict(self), "hop": self.hop, "window": "hann",
                "mel_scale": "htk", "db": "10*log10(max(power, 1e-10))"}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> AudioFeatures:
        """The settings a checkpoint stored; ValueError when the record is not one."""
        try:
            if record.get("format") != FORMAT:
                raise ValueError(f"not an audio feature record: {record!r}")
            hop, top = record["hop_length"], record["f_max"]
            return cls(int(record["sample_rate"]), float(record["duration"]), int(record["n_fft"]),
                       None if hop is None else int(hop), int(record["n_mels"]), float(record["f_min"]),
                       None if top is None else float(top))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not an audio feature record ({exc!r}): {record!r}") from None


def mel_power(clips: torch.Tensor, features: AudioFeatures) -> torch.Tensor:
    """(N, samples) float clips as (N, n_mels, frames) mel-band power, torchaudio's MelSpectrogram convention."""
    window = torch.hann_window(features.n_fft, periodic=True, dtype=torch.float32)
    spec = torch.stft(clips.float(), features.n_fft, hop_length=features.hop, win_length=features.n_fft,
                      window=window, center=True, pad_mode="reflect", normalized=False, onesided=True,
                      return_complex=True)
    power = spec.real.square() + spec.imag.square()   # (N, n_fft // 2 + 1, frames)
    bank = mel_filterbank(features.n_fft // 2 + 1, features.sample_rate, features.n_mels, float(features.f_min),
                          features.top)
    return torch.matmul(power.transpose(1, 2), bank).transpose(1, 2)


def to_db(power: torch.Tensor) -> torch.Tensor:
    """Power as decibels: 10 log10(max(power, 1e-10))."""
    return 10.0 * torch.log10(torch.clamp(power, min=AMIN))


def square(mel: torch.Tensor, size: int) -> torch.Tensor:
    """(N, n_mels, frames) with exactly `size` frames: the first `size` where there are a few more (the
    default hop), linearly resampled along time where an explicit hop gives another count."""
    frames = mel.shape[-1]
    if frames == size:
        return mel
    if size < frames <= size + 2:
        return mel[..., :size]
    return torch.nn.functional.interpolate(mel, size=size, mode="linear", align_corners=False)


def log_mel(clips: torch.Tensor, features: AudioFeatures) -> torch.Tensor:
    """(N, samples) clips as (N, 1, n_mels, n_mels) log-mel spectrograms in dB (float32)."""
    return square(to_db(mel_power(clips, features)), features.size).unsqueeze(1).contiguous()


def frames_of(features: AudioFeatures) -> int:
    """How many centred frames the STFT gives a clip (before `square`)."""
    return 1 + features.samples // features.hop

