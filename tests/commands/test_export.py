"""nas export quantize=int8: an int8 ONNX model whose outputs stay close to the fp32 model's, with
its size, latency and accuracy change in report.json and the model card."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from nasrun import read_json, run

from nascli.checkpoint import checkpoint_data, load_checkpoint
from nascli.data.loader import BatchLoader

# The stated tolerance of static int8 against the fp32 ONNX model on digits' test split (359 images),
# for the smoke checkpoint: 4 channels, one epoch, so its logits lie close together and a small error
# flips a top-1 class (measured: 0.084, 93.0%, no change; an 8-epoch 16-channel network gave 0.016,
# 99.7%, -0.28 points). Wrong scales or an unquantised graph would miss these by far.
MAX_LOGIT_REL_RMS = 0.15   # root-mean-square logit error over the fp32 logits' root-mean-square
MIN_AGREEMENT = 0.90       # share of test images whose top-1 class is unchanged
MAX_ACCURACY_DROP = 3.0    # points of test accuracy


@pytest.fixture(scope="module")
def int8_export(smoke_retrain: Path) -> tuple[Path, str]:
    """`nas export quantize=int8` of the smoke checkpoint (its default format, torchscript, plus ONNX)."""
    run_dir = smoke_retrain.parent / "export-int8"
    result = run("export", f"checkpoint={smoke_retrain}", "quantize=int8", "latency.repeats=10", run_dir=run_dir)
    assert result.code == 0, result.text
    return run_dir, result.out


def _logits(path: Path, x: torch.Tensor) -> torch.Tensor:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"input": x.numpy()})[0])


def test_int8_logits_stay_within_the_stated_tolerance_of_fp32(int8_export, smoke_retrain: Path) -> None:
    run_dir, _ = int8_export
    ckpt, _ = load_checkpoint(str(smoke_retrain))
    data = checkpoint_data(ckpt, str(smoke_retrain.parent / "data"))
    x, y = next(iter(BatchLoader(data.test, data, len(data.test))))
    fp32, int8 = _logits(run_dir / "model.onnx", x), _logits(run_dir / "model.int8.onnx", x)
    rel_rms = ((int8 - fp32).pow(2).mean().sqrt() / fp32.pow(2).mean().sqrt()).item()
    agreement = (int8.argmax(1) == fp32.argmax(1)).double().mean().item()
    drop = 100 * ((fp32.argmax(1) == y).double().mean() - (int8.argmax(1) == y).double().mean()).item()
    assert rel_rms < MAX_LOGIT_REL_RMS and agreement >= MIN_AGREEMENT and drop <= MAX_ACCURACY_DROP
    assert 0 < rel_rms  # it really is quantised, not a copy
    report = read_json(run_dir / "report.json")["int8"]  # the report says the same
    assert report["logit_rel_rms"] == pytest.approx(rel_rms, rel=1e-4)
    assert report["agreement"] == pytest.approx(agreement)
    assert report["accuracy_change"] == pytest.approx(-drop, abs=1e-9)
    assert report["compared_on"] == f"{len(y)} test images of digits"


def test_static_int8_quantises_every_convolution(int8_export) -> None:
    import onnx

    run_dir, _ = int8_export
    graph = onnx.load(str(run_dir / "model.int8.onnx")).graph
    made = {output: node for node in graph.node for output in node.output}
    convs = [node for node in graph.node if node.op_type == "Conv"]
    assert convs and all(made[node.input[0]].op_type == "DequantizeLinear" for node in convs)   # int8 inputs
    assert all(made[node.input[1]].op_type == "DequantizeLinear" for node in convs)              # int8 weights
    weights = {init.name: init for init in graph.initializer}
    quantised = [weights[made[node.input[1]].input[0]] for node in convs]
    assert all(w.data_type == onnx.TensorProto.INT8 for w in quantised)


def test_report_table_and_model_card_give_size_latency_and_accuracy(int8_export) -> None:
    run_dir, out = int8_export
    report = read_json(run_dir / "report.json")
    int8 = report["int8"]
    assert {c["format"] for c in report["exports"]} == {"torchscript", "onnx"}  # int8 brings the ONNX export
    assert int8["method"] == "static" and int8["calibrated_on"] == "calibrated on 256 training images"
    # sizes of the files as written (this 4-channel network's weights are a small part of either file:
    # its QDQ nodes make int8 5% larger; an 8-epoch 16-channel network shrank from 4.66 to 1.56 MB)
    assert int8["size_mb"] == (run_dir / "model.int8.onnx").stat().st_size / 1e6
    assert int8["fp32_size_mb"] == (run_dir / "model.onnx").stat().st_size / 1e6
    assert int8["latency_ms"] > 0 and int8["fp32_latency_ms"] > 0 and int8["latency"]["repeats"] == 10
    assert int8["accuracy_change"] == pytest.approx(int8["test_accuracy"] - int8["fp32_test_accuracy"])
    assert [row["model"] for row in int8["models"]] == ["fp32", "int8"]
    assert "int8 (static) against fp32" in out and "logit_rel_rms" in out
    card = (run_dir / "MODEL_CARD.md").read_text()
    assert "## int8" in card and "model.int8.onnx" in card and "points)" in card


@pytest.mark.slow
def test_dynamic_int8_without_the_dataset_compares_on_random_inputs(smoke_retrain: Path, tmp_path: Path) -> None:
    """A checkpoint whose dataset is not on this machine: calibration and comparison use random inputs,
    so there is no accuracy, only agreement; int8.min_agreement fails the export when it is missed."""
    ckpt = torch.load(smoke_retrain / "model.pt", weights_only=True)
    ckpt["dataset_config"] = {"_target_": "nascli.data.datasets.torchvision_splits", "name": "mnist", "root": "x",
                              "download": False, "val_fraction": 0.1, "split_seed": 0, "max_train_samples": None,
                              "classes": None, "augment": {"crop_padding": 0, "flip": False}}
    torch.save(ckpt, tmp_path / "model.pt")
    result = run("export", f"checkpoint={tmp_path / 'model.pt'}", "format=onnx", "quantize=int8",
                 "int8.method=dynamic", "int8.test_samples=64", "int8.min_agreement=1.0", "latency.repeats=3",
                 run_dir=tmp_path / "dynamic")
    int8 = read_json(tmp_path / "dynamic" / "report.json")["int8"]
    assert int8["method"] == "dynamic" and int8["compared_on"].startswith("64 random inputs")
    assert int8["test_accuracy"] is None and int8["accuracy_change"] is None and 0.5 < int8["agreement"] <= 1
    assert "no test accuracy" in (tmp_path / "dynamic" / "MODEL_CARD.md").read_text()
    if int8["agreement"] < 1.0:  # exit 2 exactly when the share is under int8.min_agreement, files kept
        assert result.code == 2 and "int8.min_agreement=1" in result.err and "Traceback" not in result.text
        assert (tmp_path / "dynamic" / "model.int8.onnx").is_file()
    else:
        assert result.code == 0, result.text


def test_without_onnxruntime_int8_says_what_to_install(smoke_retrain: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    result = run("export", f"checkpoint={smoke_retrain}", "quantize=int8", run_dir=tmp_path / "x")
    assert result.code == 2 and "Traceback" not in result.text
    assert "pip install 'nascli[onnx]'" in result.err


def test_a_refused_export_writes_nothing(smoke_retrain: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """format=all without the onnx extra: the TorchScript half is not written either (it was, with status failed)."""
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    result = run("export", f"checkpoint={smoke_retrain}", "format=all", run_dir=tmp_path / "all")
    assert result.code == 2 and "pip install 'nascli[onnx]'" in result.err and "Nothing was written" in result.err
    written = {p.name for p in (tmp_path / "all").iterdir() if not p.name.startswith(".")}
    assert written == {"report.json", "report.md"}  # the run's own record of the refusal, no model file


def test_bad_int8_settings_are_config_errors(tmp_path: Path) -> None:
    for i, (override, message) in enumerate((
            ("quantize=int4", "quantize must be null or int8"),
            ("int8.min_agreement=95", "int8.min_agreement is a share between 0 and 1"),
            ("int8.method=qat", "int8.method must be static or dynamic"))):
        result = run("export", f"checkpoint={tmp_path}", override, run_dir=tmp_path / str(i))
        assert result.code == 2 and message in result.err, result.err
