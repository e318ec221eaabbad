"""dataset=audio_folder: class folders of sound files, or Google's Speech Commands layout, as cached
log-mel squares with stratified or listed splits; bad files skipped and listed; training augmentation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from soundtrees import tone, tone_tree, write_wav

from nascli.data.audio_folder import AudioAugment
from nascli.data.loader import BatchLoader
from nascli.errors import DatasetError
from nascli.runtime.config import build_option

SMALL = {"sample_rate": 8000, "duration": 0.5, "n_fft": 256, "n_mels": 16}


def audio(root: Path, tmp_path: Path, **options):
    return build_option("dataset", "audio_folder", {"root": str(root), "cache_dir": str(tmp_path / "cache"), **SMALL,
                                                    **options})


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tone_tree(tmp_path_factory.mktemp("tones") / "root", per_class=10)


def test_class_folders_become_classes_of_square_one_channel_features_split_stratified(tones: Path, tmp_path: Path) -> None:
    data = audio(tones, tmp_path)
    assert data.class_names == ["high", "low", "mid"]
    assert data.shape == (3, 1, 16) and data.train.images.dtype == torch.float32
    assert (len(data.train), len(data.val), len(data.test)) == (24, 3, 3)
    assert sorted(data.test.labels.tolist()) == [0, 1, 2]  # one of each class: stratified
    assert data.preprocess is not None and data.preprocess["kind"] == "audio" and data.preprocess["n_mels"] == 16
    assert data.max_value == 1.0 and len(data.mean) == 1
    assert data.source["layout"] == "class folders" and data.source["cache_hit"] is False
    again = audio(tones, tmp_path)  # the second run reads the cache, the same features and splits
    assert again.source["cache_hit"] is True
    assert torch.equal(again.train.images, data.train.images) and torch.equal(again.test.labels, data.test.labels)
    other = audio(tones, tmp_path, n_mels=20, n_fft=256)  # other settings: computed afresh
    assert other.source["cache_hit"] is False and other.input_size == 20


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Speech Commands in miniature: 4 words (2 keywords), lists naming val and test clips, background noise."""
    root = tmp_path_factory.mktemp("speech") / "speech_commands"
    rng = np.random.default_rng(1)
    val, test = [], []
    for word, freq in {"yes": 400.0, "no": 900.0, "cat": 1500.0, "dog": 2500.0}.items():
        for i in range(10):
            name = f"{word}/spk{i}_nohash_0.wav"
            write_wav(root / name, tone(freq, 0.5, 16000, rng), 16000)
            (val if i == 8 else test if i == 9 else []).append(name)
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    for k in range(2):
        write_wav(root / "_background_noise_" / f"noise{k}.wav", 0.3 * rng.standard_normal(16000 * 3), 16000)
    (root / "_background_noise_" / "README.md").write_text("noise")
    return root


def test_the_speech_commands_layout_gives_keywords_silence_and_unknown(speech: Path, tmp_path: Path) -> None:
    data = audio(speech, tmp_path, words=["yes", "no"], silence_share=0.5, unknown_share=0.5)
    assert data.class_names == ["_silence_", "_unknown_", "yes", "no"]
    # val and test as the lists say: one clip of each word each; unknown and silence are half the keyword clips
    for split, keywords in ((data.train, 16), (data.val, 2), (data.test, 2)):
        counts = torch.bincount(split.labels, minlength=4).tolist()
        assert counts == [keywords // 2, keywords // 2, keywords // 2, keywords // 2]
    facts = data.source
    assert facts["layout"] == "speech commands" and facts["given_splits"] == ["val", "test"]
    assert facts["unknown_from"] == ["cat", "dog"] and facts["silence_from"] == "background noise"
    assert facts["noise_files"] == 2 and facts["noise_mixing"] is True and facts["other_files_ignored"] == 1
    assert isinstance(data.augment, AudioAugment) and data.augment.noise is not None
    assert data.augment.noise.shape[1:] == (16, 16)


def test_without_words_every_folder_is_a_class_and_missing_words_are_named(speech: Path, tmp_path: Path) -> None:
    assert audio(speech, tmp_path).class_names == ["cat", "dog", "no", "yes"]
    with pytest.raises(DatasetError, match="dataset.words names maybe, which .* has no folder"):
        audio(speech, tmp_path, words=["yes", "maybe"])


def test_bad_files_are_skipped_and_listed_and_too_many_are_refused(tones: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "spoilt"
    shutil.copytree(tones, root)
    (root / "low" / "empty.wav").write_bytes(b"")
    (root / "mid" / "text.wav").write_text("hello")
    with pytest.raises(DatasetError, match=r"(?s)2 of 32 sound files .* cannot be used.*empty.wav: an empty file"):
        audio(root, tmp_path)
    data = audio(root, tmp_path, max_bad_fraction=0.1)
    assert data.source["bad"] == 2 and len(data.train) + len(data.val) + len(data.test) == 30
    assert {Path(b["path"]).name for b in data.source["bad_files"]} == {"empty.wav", "text.wav"}


def test_layout_mistakes_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="needs dataset.root"):
        audio("", tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        audio(tmp_path / "nowhere", tmp_path)
    write_wav(tmp_path / "one" / "a" / "x.wav", np.zeros(100), 8000)
    with pytest.raises(DatasetError, match="holds 1 class folder"):
        audio(tmp_path / "one", tmp_path)
    (tmp_path / "one" / "b").mkdir()
    with pytest.raises(DatasetError, match="class folder .*b holds no sound files"):
        audio(tmp_path / "one", tmp_path)
    with pytest.raises(DatasetError, match="f_max must be at most half the sample rate"):
        audio(tmp_path / "one", tmp_path, f_max=6000.0)


def _augment(**changes) -> AudioAugment:
    base = AudioAugment(crop_padding=0, flip=False, time_shift_ms=0.0, noise_prob=0.0, noise_volume=0.0, freq_masks=0,
                        freq_mask_width=0, time_masks=0, time_mask_width=0)
    return dataclasses.replace(base, **changes)


def test_spec_augment_masks_bands_and_frames_with_the_mean() -> None:
    x = torch.zeros(8, 1, 16, 16)
    masked = _augment(freq_masks=1, freq_mask_width=4).batch(x, torch.Generator().manual_seed(0))
    assert masked.eq(0).all()  # fill is the mean, 0 here
    aug = _augment(freq_masks=1, freq_mask_width=4)
    aug.fill = -5.0
    bands = aug.batch(x, torch.Generator().manual_seed(0))[:, 0]
    hit = bands.eq(-5.0)
    assert torch.equal(hit.all(dim=2), hit.any(dim=2))  # whole bands: every frame of a masked band
    assert hit.any(dim=2).sum(dim=1).max() <= 4 and hit.any()
    aug = _augment(time_masks=2, time_mask_width=3)
    aug.fill = -5.0
    frames = aug.batch(x, torch.Generator().manual_seed(0))[:, 0].eq(-5.0)
    assert torch.equal(frames.all(dim=1), frames.any(dim=1)) and frames.any(dim=1).sum(dim=1).max() <= 6


def shifted(frames: int, by: int, floor: float) -> list[float]:
    """range(frames) moved `by` frames later (earlier when negative), `floor` shifted in."""
    return [float(t - by) if 0 <= t - by < frames else floor for t in range(frames)]


def test_time_shift_moves_frames_and_lets_the_noise_floor_in_and_noise_raises_the_floor() -> None:
    x = (torch.arange(16.0) + 10).expand(8, 1, 16, 16).clone()  # frame t holds 10 + t in every band
    shift = _augment()
    shift.shift_frames = 3
    moved = shift.batch(x, torch.Generator().manual_seed(3))[:, 0, 0] - 10
    found = set()
    for row in moved.tolist():  # each clip moved by some -3..3 frames, its quietest level (10 + 0) shifted in
        by = next(b for b in range(-3, 4) if row == shifted(16, b, 0.0))
        found.add(by)
    assert len(found) > 1
    noisy = _augment(noise_prob=1.0, noise_volume=1.0)
    noisy.noise = torch.full((2, 16, 16), 0.0)  # 0 dB of noise
    quiet = torch.full((4, 1, 16, 16), -100.0)
    out = noisy.batch(quiet, torch.Generator().manual_seed(0))
    assert torch.all(out >= -100.0) and (out > -60).any()
    same = noisy.batch(quiet, torch.Generator().manual_seed(0))
    assert torch.equal(out, same)  # the loader's generator alone decides


def test_the_loader_augments_training_batches_only(tones: Path, tmp_path: Path) -> None:
    data = audio(tones, tmp_path)
    plain = next(iter(BatchLoader(data.val, data, 8)))[0]
    expected = (data.val.images[:8] - data.mean[0]) / data.std[0]
    torch.testing.assert_close(plain, expected)
    train = BatchLoader(data.train, data, 8, train=True, seed=0)
    first = [x for x, _ in train]
    again = [x for x, _ in BatchLoader(data.train, data, 8, train=True, seed=0)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))[:8]
    raw = (data.train.images[order] - data.mean[0]) / data.std[0]
    assert not torch.equal(first[0], raw)  # shifted and masked


def test_silence_without_background_noise_is_digital_silence(tones: Path, tmp_path: Path) -> None:
    data = audio(tones, tmp_path, silence_share=0.2)
    assert data.class_names == ["_silence_", "high", "low", "mid"] and data.source["silence_from"] == "digital silence"
    assert data.source["silence_clips"] == 6 and data.augment.noise is None  # 20% of 30 clips; nothing to mix in
    quiet = data.train.images[data.train.labels == 0]
    assert len(quiet) and torch.all(quiet == -100.0)
