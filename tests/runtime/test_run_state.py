"""Run state: one rule for what a resume may change, a diff that names each difference, and one
safe loader whose every failure is a CheckpointError naming the file and what it is not, for each
file nascli reads back (model.pt, a search's checkpoint.pt and checkpoint.json, a meta-train's
state, a meta prior, a SPOS supernet)."""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from configured import CPU, evaluator, space
from nasrun import compose, run

from nascli.checkpoint import load_checkpoint
from nascli.errors import CheckpointError
from nascli.evaluators.base import EvalContext
from nascli.meta.prior import ArchPrior
from nascli.runtime import run_state
from nascli.runtime.config import plain
from nascli.search.resume import load_state, saved_supernet
from nascli.search.trials import TrialLog


def test_where_and_how_fast_a_run_goes_and_when_it_stops_are_free_for_every_command() -> None:
    for command, *overrides in (("search",), ("retrain",), ("meta-train", "tasks=subsets")):
        config = plain(compose(command, *overrides))
        kept = run_state.fingerprint(config)
        assert {"device", "resume", "paths", "logger", "jobs_per_gpu"}.isdisjoint(kept)
        assert "seed" in kept and "root" not in kept["dataset"] and kept["dataset"]["name"] == config["dataset"]["name"]
    search, retrain = (run_state.fingerprint(plain(compose(c))) for c in ("search", "retrain"))
    for fingerprint in (search, retrain):  # the same trainer rule for both: speed switches out, the recipe in
        assert "compile" not in fingerprint["trainer"] and "amp" not in fingerprint["trainer"]
        assert {"lr", "epochs", "batch_size"} <= set(fingerprint["trainer"])
    assert "budget" not in search and "strategy" in search and "search_space" in search
    assert run_state.is_free(("trainer", "compile")) and not run_state.is_free(("trainer", "epochs"))
    assert not run_state.is_free(("trainer", "eval_batch_size"))  # SPOS and ENAS recalibrate BN with such batches


def test_the_diff_names_every_difference_with_both_values() -> None:
    was = {"seed": 0, "trainer": {"lr": 0.05, "compile": "auto"}, "meta": None}
    now = {"seed": 0, "trainer": {"lr": 0.1, "compile": "none"}, "hparams": {"lr": [0.1]}}
    assert run_state.differences(was, now) == ["hparams was absent, is {'lr': [0.1]}", "meta was None, is absent",
                                               "trainer.compile was 'auto', is 'none'", "trainer.lr was 0.05, is 0.1"]
    run_state.check_same(was, {**was, "trainer": {"lr": 0.05, "compile": "none"}, "device": "cuda"}, "run", "search")
    run_state.check_same({**was, "network": {}}, {**was, "network_by_space": {}}, "run", "retrain")  # options added since
    with pytest.raises(CheckpointError, match=r"^run was written by a retrain with other settings \(trainer.lr was "
                                              r"0.05, is 0.1\)\. A resume continues the run as it was configured"):
        run_state.check_same(was, {**was, "trainer": {"lr": 0.1, "compile": "auto"}}, "run", "retrain")


class Payload:
    """Unpickling this would run our code: weights_only must refuse it."""

    def __reduce__(self):
        return (print, ("unpickled!",))


BAD_FILES: dict[str, Callable[[Path], None]] = {
    "truncated": lambda path: path.write_bytes(b"PK\x03\x04 not a whole zip"),
    "random bytes": lambda path: path.write_bytes(bytes(range(256)) * 8),
    "pickled code": lambda path: path.write_bytes(pickle.dumps({"payload": Payload()})),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_an_unreadable_file_is_one_checkpoint_error_naming_it(kind: str, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "state.pt"
    BAD_FILES[kind](path)
    with pytest.raises(CheckpointError, match=rf"^{re.escape(str(path))} is not a readable nascli search checkpoint \(.+\)\.$"):
        run_state.load(path, "nascli search checkpoint")
    assert "unpickled!" not in capsys.readouterr().out


def test_a_foreign_file_is_refused_by_its_format(tmp_path: Path) -> None:
    path = run_state.save(tmp_path / "model.pt", {"format": "someone-else/3", "weights": torch.ones(2)})
    with pytest.raises(CheckpointError, match=r"model.pt is not a nascli checkpoint \(expected format nascli."):
        run_state.load(path, "nascli checkpoint", "nascli.checkpoint/1")
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="model.pt is not a nascli checkpoint"):
        run_state.load(path, "nascli checkpoint")
    run_state.save(path, {"format": "nascli.checkpoint/1", "weights": torch.ones(2)})
    assert torch.equal(run_state.load(path, "nascli checkpoint", "nascli.checkpoint/1")["weights"], torch.ones(2))


def _supernet_evaluator(path: Path) -> None:
    context = EvalContext(space("nb201", channels=4, cells_per_stage=1), 0, CPU, None, lambda: None)
    evaluator("supernet", context, checkpoint=str(path))._load()


# every reader of a file nascli wrote, given a damaged one -> what the error says the file is not
READERS: dict[str, tuple[str, Callable[[Path], object], str]] = {
    "model.pt": ("model.pt", lambda path: load_checkpoint(str(path)), "nascli checkpoint"),
    "search state": ("checkpoint.pt", lambda path: load_state(path.parent, {}), "nascli search checkpoint"),
    "supernet for init=": ("checkpoint.pt", lambda path: saved_supernet(path.parent), "nascli search checkpoint"),
    "search trials": ("checkpoint.json", lambda path: TrialLog(path.parent).load({}), "nascli search checkpoint"),
    "meta prior": ("prior.pt", lambda path: ArchPrior.load(str(path.parent)), "nascli meta prior"),
    "SPOS supernet": ("checkpoint.pt", _supernet_evaluator, "SPOS supernet checkpoint"),
}


@pytest.mark.parametrize("reader", list(READERS))
def test_every_reader_turns_a_corrupt_or_foreign_file_into_the_one_checkpoint_error(reader: str,
                                                                                    tmp_path: Path) -> None:
    name, read, what = READERS[reader]
    path = tmp_path / name
    (tmp_path / "prior.json").write_text('{"format": "nascli.meta-prior/1"}')  # the prior's other half
    path.write_bytes(b"\x80\x04 damaged")
    with pytest.raises(CheckpointError, match=rf"^{re.escape(str(path))} is not a readable {what} \("):
        read(path)
    if name.endswith(".pt"):
        torch.save({"format": "another.program/1", "state": [1]}, path)
        with pytest.raises(CheckpointError, match=rf"^{re.escape(str(path))} is not a {what}"):
            read(path)


def test_a_damaged_meta_train_state_is_refused_on_resume(tmp_path: Path) -> None:
    run_dir = tmp_path / "meta"
    run_dir.mkdir()
    (run_dir / "meta_state.pt").write_bytes(b"not a checkpoint")
    result = run("meta-train", "method=reptile", "tasks=subsets", "debug=smoke", "resume=true", run_dir=run_dir)
    assert result.code == 2, result.text
    assert f"{run_dir / 'meta_state.pt'} is not a readable nascli meta-train state (" in result.err
