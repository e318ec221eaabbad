"""dataset=audio_folder: sound files in class folders, as log-mel spectrograms every image space searches.

Two layouts: `root/<class>/<file>.wav` (train, val and test split off, stratified and seeded, as for
images), or Google's Speech Commands (class folders plus `validation_list.txt` / `testing_list.txt`
naming the val and test files, and `_background_noise_/` of long noise recordings). With `words`,
the keyword-spotting setting: those words are classes, `_unknown_` is sampled from the other words
and `_silence_` cut from the background noise, each `unknown_share` / `silence_share` of a split's
keyword clips (Warden 2018's input pipeline). Features are computed once and cached like decoded
images (nascli.data.audio_cache); unusable files are skipped, counted and listed, up to
`max_bad_fraction`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from nascli.data.assemble import assemble
from nascli.data.audio import BadAudio, has_soundfile, read_audio, resample
from nascli.data.audio_cache import features_of_files
from nascli.data.audio_features import AudioFeatures, frames_of, log_mel, to_db
from nascli.data.datasets import Augment, DataSplits
from nascli.errors import DatasetError

NOISE_FOLDER = "_background_noise_"
LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}
SILENCE, UNKNOWN = "_silence_", "_unknown_"
NOISE_SEGMENTS = 512  # background-noise clips held for mixing into training batches
LAYOUT_HELP = ("Lay it out as root/<class>/<clip>.wav (e.g. root/yes/1.wav, root/no/2.wav), or as Google's Speech "
               "Commands (class folders, validation_list.txt, testing_list.txt, _background_noise_/).")


@dataclass(kw_only=True)
class AudioAugment(Augment):
    """Training augmentation of log-mel batches, on tensors in the batch loader: a time shift, background
    noise mixed in, then SpecAugment's frequency and time masks (Park et al. 2019).

    Frames shifted in take each band's quietest level in the clip (its noise floor): digital silence
    (-100 dB) there would be an outlier far below every recorded frame. Noise is mixed in the mel power domain (power of clip + volume^2 x power of noise), which drops the
    cross term of the two spectra: zero on average, so it is the expected power of the mixed waveform."""

    time_shift_ms: float     # shift each clip by up to this, either way (each band's quietest level shifted in)
    noise_prob: float        # share of clips mixed with background noise
    noise_volume: float      # noise amplitude drawn uniformly from [0, noise_volume]
    freq_masks: int          # frequency masks per clip ...
    freq_mask_width: int     # ... each of 0 .. this many mel bands
    time_masks: int          # time masks per clip ...
    time_mask_width: int     # ... each of 0 .. this many frames
    noise: torch.Tensor | None = field(default=None, init=False, repr=False)  # (K, n_mels, n_mels) noise in dB
    shift_frames: int = field(default=0, init=False)  # time_shift_ms in frames of the features
    fill: float = field(default=0.0, init=False)      # what a mask writes: the training features' mean (dB)

    def batch(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """A training batch (N, 1, bands, frames) of log-mel dB, augmented; randomness from `gen` alone."""
        n, _, bands, frames = x.shape
        if self.shift_frames > 0:
            shift = torch.randint(-self.shift_frames, self.shift_frames + 1, (n,), generator=gen).to(x.device)
            source = torch.arange(frames, device=x.device)[None, :] - shift[:, None]
            inside = ((source >= 0) & (source < frames))[:, None, None, :]
            moved = x.gather(3, source.clamp(0, frames - 1)[:, None, None, :].expand(n, 1, bands, frames))
            x = torch.where(inside, moved, x.amin(dim=3, keepdim=True))
        if self.noise is not None and self.noise_prob > 0 and self.noise_volume > 0:
            mixed = torch.rand(n, generator=gen) < self.noise_prob
            pick = torch.randint(0, len(self.noise), (n,), generator=gen)
            volume = torch.rand(n, generator=gen) * self.noise_volume * mixed
            noise = self.noise[pick].to(x.device)[:, None]
            power = 10.0 ** (x / 10.0) + (volume.to(x.device) ** 2)[:, None, None, None] * 10.0 ** (noise / 10.0)
            x = to_db(power)
        x = _masks(x, 2, self.freq_masks, self.freq_mask_width, self.fill, gen)
        return _masks(x, 3, self.time_masks, self.time_mask_width, self.fill, gen)


def _masks(x: torch.Tensor, dim: int, count: int, width: int, fill: float, gen: torch.Generator) -> torch.Tensor:
    """SpecAugment: `count` masks per clip along `dim`, each [start, start + w) with w uniform in 0..width."""
    if count <= 0 or width <= 0:
        return x
    n, size = x.shape[0], x.shape[dim]
    positions = torch.arange(size, device=x.device)
    masked = torch.zeros(n, size, dtype=torch.bool, device=x.device)
    for _ in range(count):
        w = torch.randint(0, min(width, size) + 1, (n,), generator=gen).to(x.device)
        start = (torch.rand(n, generator=gen).to(x.device) * (size - w + 1)).long()
        masked |= (positions[None, :] >= start[:, None]) & (positions[None, :] < (start + w)[:, None])
    shape = [n, 1, 1, 1]
    shape[dim] = size
    return x.masked_fill(masked.view(shape), fill)


@dataclass
class SoundTree:
    """The sound files of an audio folder: paths, class names (of folders) and given splits, noise files."""

    files: list[Path] = field(default_factory=list)
    folders: list[int] = field(default_factory=list)  # index into folder_names
    splits: list[str] = field(default_factory=list)
    folder_names: list[str] = field(default_factory=list)
    noise: list[Path] = field(default_factory=list)
    layout: str = "class folders"
    other_files: int = 0


def _sounds_under(folder: Path, tree: SoundTree, extensions: tuple[str, ...]) -> list[Path]:
    found = []
    for top, dirs, names in os.walk(folder):  # links to folders are not followed: no loops
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            if Path(name).suffix.lower() in extensions:
                found.append(Path(top) / name)
            else:
                tree.other_files += 1
    return found


def _read_list(path: Path) -> set[str]:
    try:
        return {line.strip().replace("\\", "/") for line in path.read_text().splitlines() if line.strip()}
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"Cannot read {path} ({exc}); it should list one clip per line as <class>/<file>.wav.") from None


def scan_sounds(root: str, extensions: tuple[str, ...]) -> SoundTree:
    """The files, classes and given splits under `root`, or a DatasetError saying what is wrong and what to do."""
    base = Path(root).expanduser()
    if not base.is_dir():
        what = "is not a folder" if base.exists() else "does not exist"
        raise DatasetError(f"dataset.root={root} {what}. Point dataset.root at the folder of your sound files. {LAYOUT_HELP}")
    try:
        dirs = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise DatasetError(f"Cannot list {base} ({exc.strerror or exc}); check that it is readable.") from None
    tree = SoundTree()
    lists = {split: _read_list(base / name) for split, name in LISTS.items() if (base / name).is_file()}
    if lists or any(d.name == NOISE_FOLDER for d in dirs):
        tree.layout = "speech commands"
    classes = [d for d in dirs if d.name != NOISE_FOLDER]
    if len(classes) < 2:
        raise DatasetError(f"dataset.root={root} holds {len(classes)} class folder(s) "
                           f"({', '.join(d.name for d in classes) or 'none'}); a classifier needs at least two. {LAYOUT_HELP}")
    tree.folder_names = [d.name for d in classes]
    for label, folder in enumerate(classes):
        files = _sounds_under(folder, tree, extensions)
        if not files:
            raise DatasetError(f"The class folder {folder} holds no sound files ({', '.join(extensions)}). Add clips, "
                               f"remove the folder, or widen dataset.extensions.")
        for path in files:
            rel = path.relative_to(base).as_posix()
            tree.files.append(path)
            tree.folders.append(label)
            tree.splits.append("val" if rel in lists.get("val", ()) else "test" if rel in lists.get("test", ()) else "train")
    if (base / NOISE_FOLDER).is_dir():
        tree.noise = _sounds_under(base / NOISE_FOLDER, tree, extensions)
    return tree


def _noise_clips(paths: list[Path], features: AudioFeatures) -> tuple[list[torch.Tensor], list[tuple[str, str]]]:
    """The background-noise recordings at the sample rate (whole, however long), and the unusable ones."""
    clips, bad = [], []
    for path in paths:
        try:
            mono, rate = read_audio(path)
        except BadAudio as exc:
            bad.append((str(path), str(exc)))
            continue
        wave_ = torch.from_numpy(mono)
        clips.append(resample(wave_, rate, features.sample_rate) if rate != features.sample_rate else wave_)
    return clips, bad


def _segments(noise: list[torch.Tensor], count: int, samples: int, gen: torch.Generator) -> torch.Tensor:
    """`count` clips of `samples` cut at random places of random noise recordings (shorter ones padded)."""
    out = torch.zeros(count, samples)
    for i in range(count):
        source = noise[int(torch.randint(0, len(noise), (1,), generator=gen))]
        if len(source) > samples:
            start = int(torch.randint(0, len(source) - samples + 1, (1,), generator=gen))
            out[i] = source[start:start + samples]
        else:
            out[i, :len(source)] = source
    return out


def _features(clips: torch.Tensor, features: AudioFeatures, chunk: int = 256) -> np.ndarray:
    return np.concatenate([log_mel(clips[i:i + chunk], features).numpy() for i in range(0, len(clips), chunk)]) \
        if len(clips) else np.zeros((0, 1, features.size, features.size), np.float32)


def _choose(tree: SoundTree, lookup: dict[str, int], unknown_share: float, silence_share: float,
            gen: torch.Generator) -> tuple[list[Path], list[int], list[str], dict[str, int]]:
    """Per given split: the clips of the classes in `lookup`; `_unknown_` clips sampled (seeded) from the
    other folders, `unknown_share` of the split's class clips; and how many `_silence_` clips to make."""
    files: list[Path] = []
    labels: list[int] = []
    splits: list[str] = []
    silence_counts: dict[str, int] = {}
    for part in sorted(set(tree.splits), key=("train", "val", "test").index):
        rows = [i for i, s in enumerate(tree.splits) if s == part]
        known = [i for i in rows if tree.folder_names[tree.folders[i]] in lookup]
        others = [i for i in rows if tree.folder_names[tree.folders[i]] not in lookup]
        chosen = [(i, lookup[tree.folder_names[tree.folders[i]]]) for i in known]
        if unknown_share > 0 and others:
            take = min(len(others), math.ceil(unknown_share * len(known)))
            pick = torch.randperm(len(others), generator=gen)[:take].sort().values.tolist()
            chosen += [(others[j], lookup[UNKNOWN]) for j in pick]
        for i, label in sorted(chosen):
            files.append(tree.files[i])
            labels.append(label)
            splits.append(part)
        if silence_share > 0:
            silence_counts[part] = math.ceil(silence_share * len(known))
    return files, labels, splits, silence_counts


def _silence_features(noise: list[torch.Tensor], count: int, features: AudioFeatures, gen: torch.Generator) -> np.ndarray:
    """`count` _silence_ clips' features: background noise cut at random and scaled by a volume uniform in
    [0, 1] (Warden 2018's input pipeline), or digital silence where there is no noise; seeded."""
    if not noise:
        return _features(torch.zeros(count, features.samples), features)
    return _features(_segments(noise, count, features.samples, gen) * torch.rand(count, 1, generator=gen), features)


def _check(sample_rate: int, duration: float, n_fft: int, hop_length: int | None, n_mels: int, f_min: float,
           f_max: float | None, silence_share: float, unknown_share: float, max_bad_fraction: float) -> AudioFeatures:
    for key, value in (("silence_share", silence_share), ("unknown_share", unknown_share),
                       ("max_bad_fraction", max_bad_fraction)):
        if not 0.0 <= value <= 1.0:
            raise DatasetError(f"dataset.{key} must be in [0, 1], got {value}.")
    try:
        return AudioFeatures(sample_rate, duration, n_fft, hop_length, n_mels, f_min, f_max)
    except ValueError as exc:
        raise DatasetError(f"dataset: {exc}.") from None


def audio_folder_splits(
    name: str,
    root: str | None,
    sample_rate: int,
    duration: float,
    n_fft: int,
    hop_length: int | None,
    n_mels: int,
    f_min: float,
    f_max: float | None,
    words: list[str] | None,
    silence_share: float,
    unknown_share: float,
    extensions: list[str],
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    max_train_samples: int | None,
    max_bad_fraction: float,
    classes: list[int] | None,
    cache_dir: str,
    memory_limit_gb: float | None,
    augment: AudioAugment,
) -> DataSplits:
    """Sound files in class folders (or the Speech Commands layout) as (1, n_mels, n_mels) log-mel
    inputs, computed once (cached), split train/val/test."""
    if not root:
        raise DatasetError(f"dataset=audio_folder needs dataset.root=<folder of your sound files>. {LAYOUT_HELP}")
    features = _check(sample_rate, duration, n_fft, hop_length, n_mels, f_min, f_max, silence_share, unknown_share,
                      max_bad_fraction)
    suffixes = tuple("." + str(e).lower().lstrip(".") for e in extensions if str(e).strip("."))
    if not suffixes:
        raise DatasetError("dataset.extensions is empty; list the sound file suffixes to read, e.g. [.wav].")
    if words and not Path(root).expanduser().is_dir():
        raise DatasetError(
            f"dataset.root={root} does not exist. Keyword spotting reads Google's Speech Commands: download "
            f"speech_commands_v0.02.tar.gz (http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz, 2.3 GB) "
            f"and extract it into {root}, so that {root}/yes/, {root}/_background_noise_/ and "
            f"{root}/validation_list.txt exist (or point dataset.root=<folder> at your copy, paths.data_dir at its parent).")
    tree = scan_sounds(root, suffixes)
    gen = torch.Generator().manual_seed(split_seed)
    parts_given = sorted(set(tree.splits), key=("train", "val", "test").index)
    if words:
        missing = [w for w in words if w not in tree.folder_names]
        if missing:
            raise DatasetError(f"dataset.words names {', '.join(missing)}, which {root} has no folder for; its classes are "
                               f"{', '.join(tree.folder_names[:30])}.")
        class_names = list(words)
    else:
        class_names = list(tree.folder_names)
    noise_clips, noise_bad = _noise_clips(tree.noise, features)
    silence = silence_share > 0
    unknown = bool(words) and unknown_share > 0 and len(words) < len(tree.folder_names)
    class_names = [*([SILENCE] if silence else []), *([UNKNOWN] if unknown else []), *class_names]
    lookup = {n: i for i, n in enumerate(class_names)}
    files, labels, splits, silence_counts = _choose(tree, lookup, unknown_share if unknown else 0.0,
                                                    silence_share if silence else 0.0, gen)
    if len(set(labels)) < 2:
        raise DatasetError(f"{root} gives fewer than two classes to learn ({', '.join(class_names)}). {LAYOUT_HELP}")
    label = f"log-mel features of {len(files)} clips of {Path(root).expanduser().name}"
    computed = features_of_files(files, features, cache_dir, label)
    bad = [(str(files[i]), why) for i, why in sorted(computed.bad.items())] + noise_bad
    if len(bad) > max_bad_fraction * max(1, len(files)):
        listed = "\n".join(f"  {p}: {w}" for p, w in bad[:10]) + (f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise DatasetError(f"{len(bad)} of {len(files) + len(tree.noise)} sound files under {root} cannot be used, more "
                           f"than dataset.max_bad_fraction={max_bad_fraction} allows:\n{listed}\n"
                           f"Remove or repair them (PCM WAV: 8, 16, 24 or 32-bit), or raise dataset.max_bad_fraction to skip them.")
    images: np.ndarray = computed.features
    sums: np.ndarray = computed.sums
    total_silence = sum(silence_counts.values())
    if total_silence:
        quiet = _silence_features(noise_clips, total_silence, features, gen)
        wide = quiet.reshape(total_silence, 1, -1).astype(np.float64)
        images = np.concatenate([np.asarray(images), quiet])
        sums = np.concatenate([np.asarray(sums), np.stack([wide.sum(2), (wide * wide).sum(2)], axis=2)])
        for part, count in silence_counts.items():
            labels += [lookup[SILENCE]] * count
            splits += [part] * count
    good = np.ones(len(labels), dtype=bool)
    good[list(computed.bad)] = False
    split_array = np.asarray(splits)
    parts = {s: np.flatnonzero(good & (split_array == s)) for s in ("train", "val", "test") if (split_array == s).any()}
    data = assemble(name, images, np.asarray(labels, dtype=np.int64), parts, class_names, 1.0, val_fraction,
                    test_fraction, split_seed, max_train_samples, augment, classes, memory_limit_gb, features.record(), sums)
    augment.fill = float(data.mean[0]) if data.mean else 0.0
    # frames per second of the features (an explicit hop's frames are resampled to n_mels)
    augment.shift_frames = int(round(augment.time_shift_ms / 1000.0 * sample_rate / features.hop
                                     * features.size / frames_of(features)))
    if noise_clips:
        count = min(NOISE_SEGMENTS, max(1, sum(len(c) for c in noise_clips) // features.samples))
        augment.noise = torch.from_numpy(_features(_segments(noise_clips, count, features.samples, gen), features))[:, 0]
    data.source = {
        "root": str(Path(root).expanduser()), "layout": tree.layout, "files": len(files), "bad": len(bad),
        "bad_files": [{"path": p, "why": w} for p, w in bad[:1000]], "other_files_ignored": tree.other_files,
        "noise_files": len(tree.noise), "noise_mixing": bool(noise_clips), "silence_clips": total_silence,
        "silence_from": "background noise" if noise_clips else ("digital silence" if total_silence else None),
        "unknown_from": sorted(set(tree.folder_names) - set(class_names)) if unknown else [],
        "given_splits": [p for p in parts_given if p != "train"], "cache": str(computed.path),
        "cache_hit": computed.hit, "decode_seconds": round(computed.seconds, 3),
        "reader": "soundfile" if has_soundfile() else "wave", "streamed": type(data.train).__name__ == "StreamSplit",
    }
    return data

