"""Sound the whole way: a folder of WAV clips (three tone classes with noise, mixed rates, widths and
channel counts) searched, retrained, evaluated and predicted on, learned well above chance; new WAV
files predicted with the checkpoint's own feature settings; bad inputs skipped or refused (exit 2)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from nasrun import read_json, run
from soundtrees import KEYWORDS, speech_commands_tree, tone_tree, write_wav

SOUND = ["dataset=audio_folder", "dataset.sample_rate=8000", "dataset.duration=0.5", "dataset.n_fft=256",
         "dataset.n_mels=16"]
TRAIN = ["debug=smoke", "trainer.epochs=8", "trainer.batch_size=8"]


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("sound")
    tones = tone_tree(base / "tones", per_class=20)
    data = [f"dataset.root={tones}", f"paths.cache_dir={base / 'cache'}"]
    search = run("search", *SOUND, *data, *TRAIN, "budget.trials=2", run_dir=base / "search")
    assert search.code == 0, search.text[-3000:]
    retrain = run("retrain", *SOUND, *data, *TRAIN, f"genotype={base / 'search'}", run_dir=base / "retrain")
    assert retrain.code == 0, retrain.text[-3000:]
    evaluate = run("evaluate", f"checkpoint={base / 'retrain'}", "debug=smoke", run_dir=base / "evaluate")
    assert evaluate.code == 0, evaluate.text[-3000:]
    predict = run("predict", f"checkpoint={base / 'retrain'}", f"input={tones}", run_dir=base / "predict")
    assert predict.code == 0, predict.text[-3000:]
    return {"base": base, "tones": tones}


@pytest.mark.slow
def test_tone_classes_are_learned_well_above_chance_and_predicted_from_wav_files(journey: dict[str, Path]) -> None:
    base = journey["base"]
    search = read_json(base / "search" / "report.json")
    assert search["data_source"]["layout"] == "class folders" and search["data_source"]["files"] == 60
    assert search["best"]["val_accuracy"] > 60.0  # chance: 33.3
    retrain = read_json(base / "retrain" / "report.json")
    assert retrain["data"]["input_size"] == 16 and retrain["data"]["in_channels"] == 1
    assert retrain["data"]["preprocess"]["kind"] == "audio"
    assert retrain["test_accuracy"] > 60.0
    evaluated = read_json(base / "evaluate" / "report.json")  # the checkpoint's data read again from the folder
    assert evaluated["test_accuracy"] == pytest.approx(retrain["test_accuracy"])
    predicted = read_json(base / "predict" / "report.json")
    assert predicted["input_kind"] == "sounds" and predicted["labelled"] == 60 and predicted["accuracy"] > 60.0
    with open(base / "predict" / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["input"] == "high/000.wav" and {r["predicted"] for r in rows} <= {"high", "low", "mid"}


@pytest.mark.slow
def test_bad_sound_inputs_are_skipped_or_refused(journey: dict[str, Path], tmp_path: Path) -> None:
    ckpt = f"checkpoint={journey['base'] / 'retrain'}"
    mixed = tmp_path / "mixed"
    write_wav(mixed / "good.wav", 0.5 * np.sin(2 * np.pi * 300 * np.arange(4000) / 8000), 8000)
    (mixed / "empty.wav").write_bytes(b"")
    (mixed / "text.wav").write_text("not audio")
    result = run("predict", ckpt, f"input={mixed}", run_dir=tmp_path / "p1")
    assert result.code == 0 and "Skipped 2 unreadable input(s)" in result.text
    skipped = read_json(tmp_path / "p1" / "report.json")["skipped_inputs"]
    assert {s["input"]: s["reason"] for s in skipped} == {"empty.wav": "an empty file",
                                                          "text.wav": "not a WAV file (no RIFF/WAVE header)"}
    one = run("predict", ckpt, f"input={mixed / 'good.wav'}", run_dir=tmp_path / "p2")
    assert one.code == 0 and read_json(tmp_path / "p2" / "report.json")["predicted"] == 1
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    for name, where, says in (("p3", tmp_path / "photo.png", "was trained on sound"),
                              ("p4", mixed / "empty.wav", "none of its 1 input"),
                              ("p5", tmp_path / "p1", "holds no sound files")):
        refused = run("predict", ckpt, f"input={where}", run_dir=tmp_path / name)
        assert refused.code == 2 and says in refused.text, refused.text[-2000:]


def test_the_keyword_spotting_preset_is_the_published_twelve_classes(tmp_path: Path) -> None:
    from nasrun import compose

    from nascli.runtime.config import build

    root = speech_commands_tree(tmp_path / "speech_commands", per_word=4)
    cfg = compose("search", "experiment=kws_speech_commands", f"paths.data_dir={tmp_path}",
                  f"paths.cache_dir={tmp_path / 'cache'}")
    assert cfg.dataset.root == str(root) and cfg.strategy._target_.endswith(".DARTS") and cfg.strategy.order == "first"
    data = build(cfg.dataset, "dataset")
    assert data.class_names == ["_silence_", "_unknown_", *KEYWORDS] and data.shape == (12, 1, 40)
    assert (len(data.val), len(data.test)) == (12, 12)  # a clip of each word, one of unknown and of silence
    assert data.source["given_splits"] == ["val", "test"] and data.source["unknown_from"] == ["cat", "dog"]
    retrain = compose("retrain", "experiment=kws_speech_commands_retrain", "genotype=DARTS_V2")
    assert list(retrain.dataset.words) == list(KEYWORDS)  # 'yes', 'no', 'on', 'off' stay words in YAML


def test_keyword_spotting_without_the_data_says_where_to_put_it(tmp_path: Path) -> None:
    result = run("search", "experiment=kws_speech_commands", f"paths.data_dir={tmp_path / 'empty'}",
                 run_dir=tmp_path / "run")
    assert result.code == 2 and "speech_commands_v0.02.tar.gz" in result.text
    assert f"extract it into {tmp_path / 'empty' / 'speech_commands'}" in result.text
