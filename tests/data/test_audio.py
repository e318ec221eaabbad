"""Reading sound files: PCM WAV of every width (8-bit unsigned), stereo mixed to mono, other rates
resampled, clips cut or padded to the duration, and unusable files told apart with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from soundtrees import write_wav

from nascli.data.audio import BadAudio, fit_length, read_audio, read_clip, resample


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_pcm_of_every_width_reads_back_as_the_written_samples(tmp_path: Path, width: int) -> None:
    samples = np.array([0.0, 0.5, -0.5, 0.25, -1.0, 0.99])
    mono, rate = read_audio(write_wav(tmp_path / f"w{width}.wav", samples, 8000, width))
    assert rate == 8000 and mono.dtype == np.float32
    step = 1.0 / (1 << (8 * width - 1))  # one quantisation level
    np.testing.assert_allclose(mono, samples, atol=step)


def test_eight_bit_wav_is_unsigned_with_silence_at_128(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "quiet.wav", np.zeros(10), 8000, width=1)
    assert set(path.read_bytes()[44:]) == {128}  # the file holds 128s ...
    assert np.all(read_audio(path)[0] == 0.0)    # ... which read as silence


def test_stereo_is_mixed_to_mono(tmp_path: Path) -> None:
    left, right = np.full(100, 0.5), np.full(100, -0.25)
    mono, _ = read_audio(write_wav(tmp_path / "stereo.wav", np.stack([left, right], axis=1), 16000))
    np.testing.assert_allclose(mono, 0.125, atol=1e-4)


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100])
def test_other_rates_are_resampled_to_the_same_sine(tmp_path: Path, rate: int) -> None:
    freq, seconds = 440.0, 0.5
    t = np.arange(int(rate * seconds)) / rate
    clip = read_clip(write_wav(tmp_path / "a.wav", 0.5 * np.sin(2 * np.pi * freq * t), rate), 16000, 8000)
    expected = 0.5 * np.sin(2 * np.pi * freq * np.arange(8000) / 16000)
    inner = slice(200, 7800)  # the filter's reach at the ends sees the zero padding
    assert clip.shape == (8000,)
    np.testing.assert_allclose(clip[inner].numpy(), expected[inner], atol=2e-3)


def test_resampling_removes_what_the_lower_rate_cannot_hold() -> None:
    t = torch.arange(16000) / 16000
    above = torch.sin(2 * torch.pi * 6000 * t)  # above 8 kHz's Nyquist frequency (4 kHz)
    below = torch.sin(2 * torch.pi * 1000 * t)
    assert resample(above, 16000, 8000)[200:-200].abs().max() < 0.01
    assert resample(below, 16000, 8000)[200:-200].abs().max() == pytest.approx(1.0, abs=0.01)
    assert resample(below, 16000, 16000) is below


def test_torchaudio_resample_agrees_where_installed() -> None:
    torchaudio = pytest.importorskip("torchaudio", reason="torchaudio is not installed: nascli resamples without it")
    x = torch.randn(2, 8000, generator=torch.Generator().manual_seed(0))
    ours = resample(x, 8000, 16000)
    theirs = torchaudio.functional.resample(x, 8000, 16000, lowpass_filter_width=6, rolloff=0.99)
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def test_clips_are_centred_cut_or_padded_to_length() -> None:
    x = torch.arange(10.0)
    assert fit_length(x, 6).tolist() == [2, 3, 4, 5, 6, 7]
    assert fit_length(x[:4], 8).tolist() == [0, 0, 0, 1, 2, 3, 0, 0]
    assert fit_length(x, 10) is not None and fit_length(x, 10).tolist() == x.tolist()


def test_unusable_files_say_why(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("not a sound at all")
    no_frames = write_wav(tmp_path / "none.wav", np.zeros(0), 8000)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(write_wav(tmp_path / "whole.wav", np.zeros(100), 8000).read_bytes()[:20])
    for path, why in ((empty, "an empty file"), (text, "not a WAV file"), (no_frames, "holds no samples"),
                      (cut, "truncated|not a PCM WAV|not audio soundfile reads"), (tmp_path / "gone.wav", "cannot be read")):
        with pytest.raises(BadAudio, match=why):
            read_clip(path, 16000, 16000)


def float_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """A 32-bit IEEE float WAV (format 3), which the wave module does not read, written by hand."""
    import struct

    data = np.asarray(samples, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE"
                     + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)
    return path


def test_a_float_wav_needs_soundfile_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nascli.data.audio as audio

    monkeypatch.setattr(audio, "has_soundfile", lambda: False)
    with pytest.raises(BadAudio, match=r"pip install soundfile"):
        read_audio(float_wav(tmp_path / "f.wav", np.zeros(10), 8000))


def test_soundfile_reads_float_wav_where_installed(tmp_path: Path) -> None:
    pytest.importorskip("soundfile", reason="soundfile is not installed (the nascli[audio] extra): wave reads PCM")
    samples = np.array([0.0, 0.25, -0.75, 0.5])
    mono, rate = read_audio(float_wav(tmp_path / "f.wav", samples, 8000))
    assert rate == 8000
    np.testing.assert_allclose(mono, samples, atol=1e-7)
    pcm, _ = read_audio(write_wav(tmp_path / "p.wav", samples, 8000, width=2))
    np.testing.assert_allclose(pcm, samples, atol=1 / 32768)
