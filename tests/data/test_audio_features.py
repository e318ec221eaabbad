"""Log-mel features: torch's against a reference computed independently in NumPy (frames, window, FFT,
HTK triangles and dB written out by hand), and against torchaudio's transforms where it is installed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nascli.data.audio_features import AudioFeatures, frames_of, log_mel, mel_filterbank, mel_power

SETTINGS = AudioFeatures(sample_rate=8000, duration=0.5, n_fft=256, hop_length=None, n_mels=20, f_min=20.0, f_max=3800.0)


def numpy_log_mel(clip: np.ndarray, s: AudioFeatures) -> np.ndarray:
    """The same features, one frame at a time: reflect-padded centred frames, a periodic Hann window,
    |rfft|^2, triangles between HTK mel points, 10 log10 with a 1e-10 floor."""
    n_fft, hop = s.n_fft, s.hop
    padded = np.pad(clip.astype(np.float64), n_fft // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = [padded[i * hop:i * hop + n_fft] * window for i in range(1 + len(clip) // hop)]
    power = np.abs(np.fft.rfft(np.array(frames), axis=1)) ** 2           # (frames, bins)
    bins = np.linspace(0, s.sample_rate // 2, n_fft // 2 + 1)
    mel = lambda f: 2595 * np.log10(1 + f / 700)                          # noqa: E731
    hz = lambda m: 700 * (10 ** (m / 2595) - 1)                           # noqa: E731
    points = hz(np.linspace(mel(s.f_min), mel(s.top), s.n_mels + 2))
    bank = np.zeros((len(bins), s.n_mels))
    for m in range(s.n_mels):
        lo, mid, hi = points[m], points[m + 1], points[m + 2]
        for k, f in enumerate(bins):
            if lo < f <= mid:
                bank[k, m] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                bank[k, m] = (hi - f) / (hi - mid)
    db = 10 * np.log10(np.maximum(power @ bank, 1e-10)).T                # (n_mels, frames)
    return db[:, :s.n_mels]


def test_the_default_hop_makes_a_square_of_n_mels_frames() -> None:
    assert SETTINGS.hop == 4000 // 19 and frames_of(SETTINGS) == 20
    speech = AudioFeatures(16000, 1.0, 480, None, 40, 20.0, 4000.0)
    assert (speech.hop, frames_of(speech), speech.size) == (410, 40, 40)


def test_log_mel_matches_an_independent_numpy_reference() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(SETTINGS.samples) / SETTINGS.sample_rate
    clips = np.stack([0.5 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t)),
                      0.3 * rng.standard_normal(len(t))]).astype(np.float32)
    ours = log_mel(torch.from_numpy(clips), SETTINGS)
    assert ours.shape == (2, 1, 20, 20) and ours.dtype == torch.float32
    for clip, got in zip(clips, ours):
        np.testing.assert_allclose(got[0].numpy(), numpy_log_mel(clip, SETTINGS), atol=2e-3, rtol=1e-4)


def test_a_tone_lights_the_band_of_its_pitch() -> None:
    t = torch.arange(SETTINGS.samples) / SETTINGS.sample_rate
    low, high = (log_mel(torch.sin(2 * torch.pi * f * t)[None], SETTINGS)[0, 0].mean(1).argmax() for f in (300, 2000))
    assert low < high


def test_silence_is_the_floor_and_an_explicit_hop_is_resampled_to_the_square() -> None:
    quiet = log_mel(torch.zeros(1, SETTINGS.samples), SETTINGS)
    assert torch.all(quiet == -100.0)
    fine = AudioFeatures(8000, 0.5, 256, 80, 20, 20.0, 3800.0)  # 51 frames of 10 ms -> 20
    assert log_mel(torch.randn(3, 4000), fine).shape == (3, 1, 20, 20)


def test_settings_round_trip_through_the_checkpoint_record_and_bad_ones_are_refused() -> None:
    record = SETTINGS.record()
    assert record["kind"] == "audio" and record["mel_scale"] == "htk"
    assert AudioFeatures.from_record(record) == SETTINGS
    with pytest.raises(ValueError, match="not an audio feature record"):
        AudioFeatures.from_record({"format": "nascli.preprocess/1", "image_size": 32})
    with pytest.raises(ValueError, match="f_max must be at most half"):
        AudioFeatures(8000, 1.0, 256, None, 20, 0.0, 6000.0)
    with pytest.raises(ValueError, match="fewer than n_mels"):
        AudioFeatures(8000, 1.0, 32, None, 40, 0.0, None)


def test_torchaudio_mel_spectrogram_agrees_where_installed() -> None:
    torchaudio = pytest.importorskip("torchaudio", reason="torchaudio is not installed: nascli's features need none")
    x = torch.randn(3, SETTINGS.samples, generator=torch.Generator().manual_seed(1)) * 0.3
    theirs = torchaudio.transforms.MelSpectrogram(sample_rate=8000, n_fft=256, hop_length=SETTINGS.hop, f_min=20.0,
                                                  f_max=3800.0, n_mels=20)(x)
    torch.testing.assert_close(mel_power(x, SETTINGS), theirs, rtol=1e-4, atol=1e-5)
    db = torchaudio.transforms.AmplitudeToDB(stype="power")(theirs.unsqueeze(1))[..., :20]
    torch.testing.assert_close(log_mel(x, SETTINGS), db, rtol=1e-4, atol=1e-3)
    bank = torchaudio.functional.melscale_fbanks(129, 20.0, 3800.0, 20, 8000)
    torch.testing.assert_close(mel_filterbank(129, 8000, 20, 20.0, 3800.0), bank, rtol=1e-3, atol=1e-5)
