"""nas predict: a trained network on new inputs, with the preprocessing it was trained with. Here on
arrays (.npz/.npy) of the smoke checkpoint's digits: its test split predicted by `nas predict` scores
the checkpoint's own test accuracy; every layout gives the same rows; the ONNX export agrees with
PyTorch; and each mistake is one message with exit status 2."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from nasrun import read_json, run

from nascli.checkpoint import build_model, checkpoint_data, load_checkpoint
from nascli.data.loader import BatchLoader


def read_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "predictions.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def digits_test(smoke_retrain: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The smoke checkpoint's test split (digits, 1x8x8, values 0..16) as a .npz of x (N, 8, 8) and y,
    with the checkpoint and its data."""
    ckpt, _ = load_checkpoint(str(smoke_retrain))
    data = checkpoint_data(ckpt, str(smoke_retrain.parent / "data"))
    folder = tmp_path_factory.mktemp("arrays")
    x = data.test.images.numpy()
    y = data.test.labels.numpy()
    np.savez(folder / "test.npz", x=x[:, 0], y=y)
    return {"ckpt": ckpt, "data": data, "x": x, "y": y, "folder": folder}


@pytest.fixture(scope="module")
def predicted(smoke_retrain: Path, digits_test: dict) -> Path:
    run_dir = digits_test["folder"] / "predict"
    result = run("predict", f"checkpoint={smoke_retrain}", f"input={digits_test['folder'] / 'test.npz'}",
                 "batch_size=100", "top_k=3", run_dir=run_dir)
    assert result.code == 0, result.text
    assert result.objective == read_json(run_dir / "report.json")["accuracy"]  # what a sweeper would read
    return run_dir


def test_the_test_split_as_arrays_scores_the_checkpoints_test_accuracy(predicted: Path, digits_test: dict) -> None:
    report = read_json(predicted / "report.json")
    n = len(digits_test["y"])
    assert report["status"] == "completed" and report["inputs"] == report["predicted"] == report["labelled"] == n
    assert report["accuracy"] == pytest.approx(digits_test["ckpt"]["metrics"]["test_accuracy"], abs=1e-9)
    assert report["accuracy"] <= report["top3_accuracy"] <= 100
    assert sum(c["predicted"] for c in report["predicted_classes"]) == n


def test_each_row_holds_the_networks_class_names_and_probabilities(predicted: Path, digits_test: dict,
                                                                    smoke_retrain: Path) -> None:
    rows = read_rows(predicted)
    names = digits_test["data"].class_names
    assert list(rows[0]) == ["input", "label", "correct", "predicted", "probability", "top2", "top2_probability",
                             "top3", "top3_probability"]
    assert [r["input"] for r in rows[:2]] == ["test.npz[0]", "test.npz[1]"]
    ckpt = digits_test["ckpt"]
    _, _, model = build_model(ckpt, str(smoke_retrain))
    data = digits_test["data"]
    x, y = next(iter(BatchLoader(data.test, data, len(data.test))))  # what nas evaluate feeds the network
    with torch.no_grad():
        probs = torch.softmax(model(x), 1)
    top_p, top_i = probs.topk(3, 1)
    for i in (0, 17, len(rows) - 1):
        row = rows[i]
        assert row["label"] == names[int(y[i])] and row["correct"] == str(int(top_i[i, 0] == y[i]))
        assert [row["predicted"], row["top2"], row["top3"]] == [names[j] for j in top_i[i].tolist()]
        assert float(row["probability"]) == pytest.approx(top_p[i, 0].item(), abs=1e-6)
        assert float(row["probability"]) >= float(row["top2_probability"]) >= float(row["top3_probability"])


def test_every_layout_gives_the_same_predictions(predicted: Path, digits_test: dict, smoke_retrain: Path) -> None:
    folder, x = digits_test["folder"], digits_test["x"]
    np.savez(folder / "nhwc.npz", images=x.transpose(0, 2, 3, 1))
    np.save(folder / "nchw.npy", x.astype(np.float32))  # floats in the same range are the same pixels
    expected = [(r["predicted"], r["probability"]) for r in read_rows(predicted)]
    for name, extra in (("nhwc.npz", ["arrays.x=images"]), ("nchw.npy", ["arrays.layout=nchw"])):
        run_dir = folder / f"predict-{name}"
        result = run("predict", f"checkpoint={smoke_retrain}", f"input={folder / name}", "batch_size=100", *extra,
                     run_dir=run_dir)
        assert result.code == 0, result.text
        rows = read_rows(run_dir)
        assert "label" not in rows[0] and read_json(run_dir / "report.json")["accuracy"] is None  # no labels: no accuracy
        assert [(r["predicted"], r["probability"]) for r in rows] == expected


@pytest.mark.slow
def test_format_onnx_runs_the_export_through_onnx_runtime_and_agrees_with_pytorch(
        predicted: Path, digits_test: dict, smoke_retrain: Path) -> None:
    pytest.importorskip("onnxruntime")
    export_dir = digits_test["folder"] / "export"
    result = run("export", f"checkpoint={smoke_retrain}", "format=onnx", run_dir=export_dir)
    assert result.code == 0, result.text
    run_dir = digits_test["folder"] / "predict-onnx"
    result = run("predict", f"checkpoint={smoke_retrain}", f"input={digits_test['folder'] / 'test.npz'}",
                 "format=onnx", f"onnx={export_dir}", "batch_size=100", run_dir=run_dir)
    assert result.code == 0, result.text
    report = read_json(run_dir / "report.json")
    assert report["format"] == "onnx" and report["providers"] == ["CPUExecutionProvider"]
    assert 0 <= report["onnx_max_abs_diff"] < 1e-4
    torch_rows, onnx_rows = read_rows(predicted), read_rows(run_dir)
    assert [r["predicted"] for r in onnx_rows] == [r["predicted"] for r in torch_rows]
    assert max(abs(float(a["probability"]) - float(b["probability"])) for a, b in zip(onnx_rows, torch_rows)) < 1e-5
    assert report["accuracy"] == read_json(predicted / "report.json")["accuracy"]
    assert "The training images were arrays of this shape" in (export_dir / "MODEL_CARD.md").read_text()


@pytest.mark.slow
def test_the_onnx_export_carries_class_names_and_input_facts_which_predict_checks(
        digits_test: dict, smoke_retrain: Path, tmp_path: Path) -> None:
    import json

    ort = pytest.importorskip("onnxruntime")
    ckpt = digits_test["ckpt"]
    renamed = {**ckpt, "data": {**ckpt["data"], "class_names": [f"digit {d}" for d in range(10)]}}
    torch.save(renamed, tmp_path / "model.pt")
    result = run("export", f"checkpoint={tmp_path / 'model.pt'}", "format=onnx", run_dir=tmp_path / "export")
    assert result.code == 0, result.text
    meta = ort.InferenceSession(str(tmp_path / "export" / "model.onnx")).get_modelmeta().custom_metadata_map
    assert json.loads(meta["class_names"]) == [f"digit {d}" for d in range(10)]
    facts = json.loads(meta["input"])
    assert facts["shape"] == [1, 8, 8] and facts["max_value"] == 16 and facts["mean"] == ckpt["data"]["mean"]
    assert facts["preprocess"] is None and meta["search_space"] == "nb201" and meta["dataset"] == "digits"
    card = (tmp_path / "export" / "MODEL_CARD.md").read_text()
    assert "classes in order: digit 0, digit 1," in card and "nas predict checkpoint=" in card
    # the same network under other class names: predict with the original checkpoint refuses it
    err = _refused(smoke_retrain, tmp_path, f"input={digits_test['folder'] / 'test.npz'}", "format=onnx",
                   f"onnx={tmp_path / 'export'}")
    assert "was exported with other classes than the checkpoint's" in err


def _refused(smoke_retrain: Path, tmp_path: Path, *overrides: str) -> str:
    """`nas predict` with `overrides`: exit 2, one message and no traceback, no predictions.csv; the message."""
    run_dir = tmp_path / f"refused-{len(list(tmp_path.glob('refused-*')))}"
    result = run("predict", f"checkpoint={smoke_retrain}", *overrides, run_dir=run_dir)
    assert result.code == 2, result.text
    assert "Traceback" not in result.text and not (run_dir / "predictions.csv").exists()
    assert read_json(run_dir / "report.json")["status"] == "failed"
    return result.err


def test_arrays_of_another_channel_count_are_refused(smoke_retrain: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "rgb.npz", x=np.zeros((4, 8, 8, 3), np.uint8))
    err = _refused(smoke_retrain, tmp_path, f"input={tmp_path / 'rgb.npz'}")
    assert "have 3 channel(s)" in err and "the network (trained on digits) takes 1" in err and "convert them to grey" in err


def test_arrays_of_another_size_are_refused(smoke_retrain: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "big.npz", x=np.zeros((4, 16, 16), np.uint8))
    err = _refused(smoke_retrain, tmp_path, f"input={tmp_path / 'big.npz'}")
    assert "are 16x16 pixels, but the network takes 8x8" in err


@pytest.mark.parametrize(("arrays", "says"), [
    ({"pixels": np.zeros((2, 8, 8))}, "has no array 'x'; it holds pixels"),
    ({"x": np.full((2, 8, 8), np.nan)}, "are NaN or infinite"),
    ({"x": np.zeros((2, 8, 8)), "y": np.array([1, 2, 3])}, "3 labels (y) for 2 images"),
    ({"x": np.zeros((2, 8, 8)), "y": np.array([1, 10])}, "label 10 is out of range"),
    ({"x": np.zeros((2, 8, 8)), "y": np.array([0.5, 1])}, "give integer class indices"),
])
def test_bad_arrays_are_refused_naming_the_fault(smoke_retrain: Path, tmp_path: Path, arrays: dict, says: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    assert says in _refused(smoke_retrain, tmp_path, f"input={tmp_path / 'bad.npz'}")


def test_class_names_serve_as_labels(smoke_retrain: Path, tmp_path: Path, digits_test: dict) -> None:
    x, y = digits_test["x"][:20, 0], digits_test["y"][:20]
    np.savez(tmp_path / "named.npz", x=x, y=np.array([str(v) for v in y]))
    result = run("predict", f"checkpoint={smoke_retrain}", f"input={tmp_path / 'named.npz'}", run_dir=tmp_path / "p")
    assert result.code == 0, result.text
    assert [r["label"] for r in read_rows(tmp_path / "p")] == [str(v) for v in y]


def test_a_missing_input_and_a_wrong_suffix_are_refused(smoke_retrain: Path, tmp_path: Path) -> None:
    assert "no such file or folder" in _refused(smoke_retrain, tmp_path, f"input={tmp_path / 'nothing.npz'}")
    (tmp_path / "notes.txt").write_text("hello")
    assert "is neither an image" in _refused(smoke_retrain, tmp_path, f"input={tmp_path / 'notes.txt'}")


def test_a_checkpoint_without_preprocessing_facts_is_refused(smoke_retrain: Path, tmp_path: Path) -> None:
    ckpt, _ = load_checkpoint(str(smoke_retrain))
    damaged = {**ckpt, "data": {k: v for k, v in ckpt["data"].items() if k not in ("mean", "std")}}
    torch.save(damaged, tmp_path / "model.pt")
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 8, 8), np.uint8))
    run_dir = tmp_path / "refused"
    result = run("predict", f"checkpoint={tmp_path / 'model.pt'}", f"input={tmp_path / 'x.npz'}", run_dir=run_dir)
    assert result.code == 2 and "holds no usable preprocessing facts (mean, std" in result.err


def test_format_onnx_needs_a_model_that_onnx_runtime_can_load(smoke_retrain: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 8, 8), np.uint8))
    assert "format=onnx runs an exported model: give onnx=" in _refused(
        smoke_retrain, tmp_path, f"input={tmp_path / 'x.npz'}", "format=onnx")
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    assert "is not a model ONNX Runtime can load" in _refused(
        smoke_retrain, tmp_path, f"input={tmp_path / 'x.npz'}", "format=onnx", f"onnx={tmp_path}")


# --- image files -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def image_checkpoint(smoke_retrain: Path, digits_test: dict) -> Path:
    """The smoke checkpoint as one trained on image files would be: with the preprocessing facts that
    data read from files stores (8 px, stretched, one channel), so files of its digits are its inputs."""
    from nascli.data.images import Preprocess

    ckpt = digits_test["ckpt"]
    path = digits_test["folder"] / "from-files" / "model.pt"
    path.parent.mkdir()
    torch.save({**ckpt, "data": {**ckpt["data"], "preprocess": Preprocess(8, "stretch", 1).record()}}, path)
    return path


@pytest.fixture(scope="module")
def digit_files(digits_test: dict) -> Path:
    """The test split as PNG files in class folders (pixel values 0..16 kept as they are)."""
    from PIL import Image

    root = digits_test["folder"] / "digit-files"
    for i, (image, label) in enumerate(zip(digits_test["x"], digits_test["y"])):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[0]).save(folder / f"{i:04d}.png")
    return root


def test_class_folders_of_images_give_labels_and_the_same_predictions_as_arrays(
        image_checkpoint: Path, digit_files: Path, predicted: Path, digits_test: dict) -> None:
    run_dir = digit_files.parent / "predict-files"
    result = run("predict", f"checkpoint={image_checkpoint}", f"input={digit_files}", "batch_size=64", "workers=2",
                 run_dir=run_dir)
    assert result.code == 0, result.text
    report = read_json(run_dir / "report.json")
    assert report["input_kind"] == "images" and report["labelled"] == len(digits_test["y"])
    assert report["accuracy"] == pytest.approx(digits_test["ckpt"]["metrics"]["test_accuracy"], abs=1e-9)
    by_array = {int(r["input"].split("[")[1][:-1]): r for r in read_rows(predicted)}
    rows = read_rows(run_dir)
    assert rows[0]["input"] == f"0/{min(i for i, y in enumerate(digits_test['y']) if y == 0):04d}.png"
    for row in rows:
        twin = by_array[int(Path(row["input"]).stem)]
        assert (row["label"], row["predicted"]) == (twin["label"], twin["predicted"])
        assert float(row["probability"]) == pytest.approx(float(twin["probability"]), abs=2e-6)


def test_unreadable_files_are_skipped_counted_and_listed(image_checkpoint: Path, tmp_path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(tmp_path / "colour.jpg")  # RGB, larger: made grey, 8 px
    (tmp_path / "notes.png").write_text("not a picture")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "whole.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "whole.png").read_bytes()[:30])
    (tmp_path / "readme.txt").write_text("ignored: not an image suffix")
    run_dir = tmp_path / "out" / "predict"
    result = run("predict", f"checkpoint={image_checkpoint}", f"input={tmp_path}", run_dir=run_dir)
    assert result.code == 0, result.text
    assert [r["input"] for r in read_rows(run_dir)] == ["colour.jpg", "whole.png"]
    report = read_json(run_dir / "report.json")
    assert (report["inputs"], report["predicted"], report["skipped"], report["accuracy"]) == (4, 2, 2, None)
    assert {s["input"]: s["reason"] for s in report["skipped_inputs"]}["notes.png"] == "not an image Pillow can read"
    assert "Skipped 2 unreadable input(s): cut.png" in result.out


def test_a_single_image_and_folders_named_otherwise_predict_without_labels(image_checkpoint: Path,
                                                                           tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "cats").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "cats" / "a.png")
    (tmp_path / "3").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "3" / "b.png")
    result = run("predict", f"checkpoint={image_checkpoint}", f"input={tmp_path}", run_dir=tmp_path / "o" / "p")
    assert result.code == 0, result.text
    assert [r["input"] for r in read_rows(tmp_path / "o" / "p")] == ["3/b.png", "cats/a.png"]
    assert "no labels: cats is not among the checkpoint's classes" in result.out
    result = run("predict", f"checkpoint={image_checkpoint}", f"input={tmp_path / '3' / 'b.png'}",
                 run_dir=tmp_path / "o" / "one")
    assert result.code == 0, result.text
    assert [r["input"] for r in read_rows(tmp_path / "o" / "one")] == ["b.png"]


def test_images_for_a_checkpoint_without_preprocessing_facts_are_refused(smoke_retrain: Path, tmp_path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
    err = _refused(smoke_retrain, tmp_path, f"input={tmp_path / 'a.png'}")
    assert "was trained on digits, whose images were not read from files" in err and "(1, 8, 8)" in err


def test_a_folder_without_images_is_refused(image_checkpoint: Path, tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    err = _refused(image_checkpoint, tmp_path, f"input={tmp_path / 'empty'}")
    assert "the folder holds no images" in err


def test_a_network_trained_on_a_folder_predicts_its_test_folder_as_evaluate_scores_it(smoke_search: Path,
                                                                                      tmp_path: Path) -> None:
    """The user's journey: photos in class folders (JPEGs of mixed sizes) -> retrain -> predict on the
    held-back test folder, which `nas predict` decodes and resizes as training did: the same accuracy."""
    from imagetrees import class_tree

    sizes = [(24, 24), (40, 30), (20, 36)]
    class_tree(tmp_path / "photos" / "train", {"cat": 24, "dog": 24, "emu": 24}, suffix=".jpg", sizes=sizes)
    class_tree(tmp_path / "photos" / "test", {"cat": 6, "dog": 6, "emu": 6}, seed=1, suffix=".jpg", sizes=sizes)
    retrain = tmp_path / "retrain"
    result = run("retrain", "debug=smoke", f"genotype={smoke_search}", "dataset=folder",
                 f"dataset.root={tmp_path / 'photos'}", "dataset.image_size=16", "dataset.resize=crop",
                 f"dataset.cache_dir={tmp_path / 'cache'}", "dataset.workers=0", run_dir=retrain)
    assert result.code == 0, result.text
    trained = read_json(retrain / "report.json")
    assert trained["data"]["preprocess"] == {"format": "nascli.preprocess/1", "image_size": 16, "resize": "crop",
                                             "channels": 3}
    run_dir = tmp_path / "predict"
    result = run("predict", f"checkpoint={retrain}", f"input={tmp_path / 'photos' / 'test'}", run_dir=run_dir)
    assert result.code == 0, result.text
    report = read_json(run_dir / "report.json")
    assert (report["inputs"], report["labelled"]) == (18, 18)
    assert report["accuracy"] == pytest.approx(trained["test_accuracy"], abs=1e-9)
    rows = read_rows(run_dir)
    assert rows[0]["input"] == "cat/0.jpg" and {r["label"] for r in rows} == {"cat", "dog", "emu"}
    assert {r["predicted"] for r in rows} <= {"cat", "dog", "emu"}


def test_a_network_trained_on_float_arrays_predicts_its_test_arrays_as_evaluate_scores_it(
        smoke_search: Path, digits_test: dict, tmp_path: Path) -> None:
    """dataset=arrays with float NHWC images in [0, 1] and a given test split; the test split given to
    `nas predict` as its own .npz (layout named in capitals, as dataset=arrays spells it)."""
    x = digits_test["x"].transpose(0, 2, 3, 1).astype(np.float32) / 16
    y = digits_test["y"]
    np.savez(tmp_path / "train.npz", x=x[60:], y=y[60:], x_test=x[:60], y_test=y[:60])
    np.savez(tmp_path / "new.npz", x=x[:60], y=y[:60])
    retrain = tmp_path / "retrain"
    result = run("retrain", "debug=smoke", f"genotype={smoke_search}", "dataset=arrays",
                 f"dataset.path={tmp_path / 'train.npz'}", run_dir=retrain)
    assert result.code == 0, result.text
    result = run("predict", f"checkpoint={retrain}", f"input={tmp_path / 'new.npz'}", "arrays.layout=NHWC",
                 run_dir=tmp_path / "predict")
    assert result.code == 0, result.text
    assert result.objective == pytest.approx(read_json(retrain / "report.json")["test_accuracy"], abs=1e-9)
