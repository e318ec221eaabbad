"""Bad input to retrain/evaluate/export: one clear message, a non-zero exit, nothing lost."""

from __future__ import annotations

import json
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from nasrun import read_json, run


def _fails_clearly(result, *phrases: str) -> None:
    assert result.code == 2, result.text
    assert "Traceback" not in result.text
    for phrase in phrases:
        assert phrase in result.err, result.err


def test_retrain_without_genotype_says_what_is_missing(tmp_path: Path) -> None:
    _fails_clearly(run("retrain", run_dir=tmp_path / "r"), "genotype")


def test_retrain_of_a_missing_genotype(tmp_path: Path) -> None:
    result = run("retrain", f"genotype={tmp_path / 'nowhere'}", run_dir=tmp_path / "r")
    _fails_clearly(result, "No genotype at", "DARTS_V2")


def test_retrain_of_a_corrupt_genotype_json(tmp_path: Path) -> None:
    bad = tmp_path / "genotype.json"
    bad.write_text('{"format": "nascli.genotype/1", "search_space": "nb201", "arch": [')
    _fails_clearly(run("retrain", f"genotype={bad}", run_dir=tmp_path / "r"), "not a readable genotype.json")
    assert bad.read_text().endswith("[")  # the user's file is untouched


def test_retrain_of_a_genotype_from_another_space(smoke_search: Path, tmp_path: Path) -> None:
    record = read_json(smoke_search / "genotype.json")
    record["search_space"] = "darts"
    record.pop("space_config")
    wrong = tmp_path / "genotype.json"
    wrong.write_text(json.dumps(record))
    result = run("retrain", f"genotype={wrong}", run_dir=tmp_path / "r")
    _fails_clearly(result, "not an architecture of the darts space")


def test_retrain_network_override_that_the_space_lacks(smoke_search: Path, tmp_path: Path) -> None:
    result = run("retrain", f"genotype={smoke_search}", "+network.layers=20", run_dir=tmp_path / "r")
    _fails_clearly(result, "network.* keys for the nb201 space are", "cells_per_stage")


def test_a_pickled_object_is_not_unpickled(tmp_path: Path) -> None:
    import argparse  # any class outside torch's safe list: weights_only=True must refuse to build it

    torch.save({"format": "nascli.checkpoint/1", "payload": argparse.Namespace(x=1)}, tmp_path / "model.pt")
    _fails_clearly(run("export", f"checkpoint={tmp_path}", run_dir=tmp_path / "x"),
                   "not a readable nascli checkpoint")


def test_missing_dataset_is_one_clear_paragraph(tmp_path: Path) -> None:
    result = run("retrain", "genotype=DARTS_V2", "dataset=cifar10", "dataset.download=false",
                 f"paths.data_dir={tmp_path / 'nodata'}", run_dir=tmp_path / "r")
    _fails_clearly(result, "Dataset 'cifar10' is not in", "nodata", "NASCLI_DATA_DIR", "dataset=digits")
    assert read_json(tmp_path / "r" / "report.json")["status"] == "failed"


def test_evaluate_with_no_threads_to_time_on(tmp_path: Path) -> None:
    _fails_clearly(run("evaluate", f"checkpoint={tmp_path}", "latency.threads=0", run_dir=tmp_path / "e"),
                   "latency.threads must be at least 1")


def _truncated(good: Path, path: Path) -> None:
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _random_bytes(good: Path, path: Path) -> None:
    noise = torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    path.write_bytes(noise.numpy().tobytes())


def _plain_dict(good: Path, path: Path) -> None:
    torch.save({"a": 1}, path)


class Payload:
    """Unpickling this would run our code: weights_only must refuse it."""

    def __reduce__(self):
        return (print, ("unpickled!",))


def _pickle(good: Path, path: Path) -> None:
    path.write_bytes(pickle.dumps({"format": "nascli.checkpoint/1", "payload": Payload()}))


def _directory(good: Path, path: Path) -> None:
    path.mkdir()
    (path / "report.json").write_text("{}")


def _weights_misfit(good: Path, path: Path) -> None:
    ckpt = torch.load(good, weights_only=True)
    name = next(iter(ckpt["state_dict"]))
    ckpt["state_dict"][name] = torch.zeros(3, 1)
    torch.save(ckpt, path)


def _parts_missing(good: Path, path: Path) -> None:
    ckpt = torch.load(good, weights_only=True)
    del ckpt["data"]
    torch.save(ckpt, path)


BROKEN: dict[str, tuple[Callable[[Path, Path], None], str]] = {  # how a checkpoint is broken -> what the error says
    "truncated": (_truncated, "is not a readable nascli checkpoint"),
    "random bytes": (_random_bytes, "is not a readable nascli checkpoint"),
    "another program's file": (_plain_dict, "is not a nascli checkpoint"),
    "a pickled object": (_pickle, "is not a readable nascli checkpoint"),
    "a directory without model.pt": (_directory, "No checkpoint at"),
    "weights that do not fit the genotype": (_weights_misfit, "the weights do not fit the network of its genotype"),
    "parts missing": (_parts_missing, "damaged nascli checkpoint: data missing"),
}


@pytest.mark.parametrize("command", ["evaluate", "export"])
@pytest.mark.parametrize("kind", list(BROKEN))
def test_a_broken_checkpoint_is_one_clear_error(kind: str, command: str, smoke_retrain: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    make, message = BROKEN[kind]
    broken = tmp_path / ("run" if kind.startswith("a directory") else "model.pt")
    make(smoke_retrain / "model.pt", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(command, f"checkpoint={broken}", *(["quantize=int8"] if command == "export" else []),
                     run_dir=tmp_path / "out")
    _fails_clearly(result, message)
    assert not [str(w.message) for w in caught]  # the one message only: no warnings printed beside it
    assert "unpickled!" not in capsys.readouterr().out + result.text
    assert read_json(tmp_path / "out" / "report.json")["status"] == "failed"
