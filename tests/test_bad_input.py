"""Bad input, tried systematically (hypothesis, a fixed seed, a bounded number of examples): odd
command-line overrides, mutated genotype.json files, damaged benchmark tables and checkpoints, and
`nas report` over runs that did not complete and over nothing.

Every case must end in a clear error (a NasError, or Hydra's own message for an override it cannot
apply: exit 2 either way) or a correct result; never another exception, and never a hang."""

from __future__ import annotations

import csv
import io
import json
import random
import resource
import shutil
import signal
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.errors import HydraException
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from nasrun import run, stopped
from omegaconf.errors import OmegaConfBaseException

from nascli.apps import group_value_mistake
from nascli.benchmarks import table_path
from nascli.checkpoint import build_model, load_checkpoint, save_checkpoint
from nascli.commands.report import main as report_main
from nascli.errors import NasError
from nascli.evaluators.tabular import CsvTable
from nascli.genotype_file import genotype_record, load_genotype
from nascli.runtime.config import build_option

SETTINGS = dict(derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CASE_SECONDS = 60  # a case running longer than this counts as a hang
MEMORY_HEADROOM = 6 << 30  # ... and one asking for more address space than this, a runaway allocation
_dirs = count()
TALLY: dict[str, Counter[str]] = {}  # how the cases of each loader ended, printed with -s


def tally(target: str, end: str) -> None:
    TALLY.setdefault(target, Counter())[end] += 1


def met_both_ends(target: str) -> None:
    """The cases of one loader reached both a clear error and a correct result (else they test half)."""
    ends = TALLY.get(target, Counter())
    print(f"{target}: {dict(ends)}")
    assert ends["error"] and ends["loaded"], (target, dict(ends))


@contextmanager
def time_limit(seconds: int = CASE_SECONDS) -> Iterator[None]:
    """Fail a case that runs longer than `seconds` (a hang), or that asks for gigabytes more memory
    (say, a network built for a damaged size) with a MemoryError instead of the machine's OOM killer."""
    def stop(*_: object) -> None:
        raise TimeoutError(f"a case ran longer than {seconds} s")

    page = resource.getpagesize()
    used = int(Path("/proc/self/statm").read_text().split()[0]) * page if Path("/proc/self/statm").exists() else 0
    limits = resource.getrlimit(resource.RLIMIT_AS)
    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    if used:
        resource.setrlimit(resource.RLIMIT_AS, (used + MEMORY_HEADROOM, limits[1]))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, limits)


def fresh(root: Path, name: str) -> Path:
    return root / f"{name}-{next(_dirs)}"


# --- strategies ---------------------------------------------------------------------------------
ODD = ["nan", "-nan", "inf", "-inf", "-1", "0", "1e309", "-1e309", "1e-320", "3.5", "''", '""', "null", "true",
       "[1,2]", "[]", "{a: 1}", "{}", "é✓日本", "x" * 300, "../../nowhere", "0x10", "${oc.env:NOPE}", "${nope}",
       "'a=b'", "\\", "DARTS_V2", "cpu", "cuda:7", "tensorboard"]
PLAUSIBLE = ["1", "2", "0.5", "0.01", "true", "false"]  # values some keys take: so that some cases run
values = st.one_of(st.sampled_from(ODD), st.sampled_from(PLAUSIBLE), st.integers(-3, 4).map(str),
                   st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=10))
unknown_keys = st.from_regex(r"[a-z_]{1,8}(\.[a-z_]{1,8})?", fullmatch=True)
KEYS = {
    "search": ["seed", "device", "budget.trials", "budget.seconds", "budget", "plots", "resume", "meta", "strategy",
               "search_space", "evaluator", "hardware", "logger", "trainer.lr", "trainer.epochs", "trainer.batch_size",
               "hardware.max_params_m", "dataset.max_train_samples", "evaluator.table", "strategy.population",
               "search_space.hparams", "jobs_per_gpu"],
    "retrain": ["seed", "device", "genotype", "baseline", "init", "finetune", "network", "network.channels", "trainer.lr",
                "trainer.epochs", "trainer.batch_size", "trainer.weight_decay", "trainer.grad_clip",
                "searched_hparams", "plots", "resume", "dataset.max_train_samples", "dataset.val_fraction"],
    "evaluate": ["checkpoint", "device", "batch_size", "seed", "hardware", "latency.repeats", "latency.batch_size"],
    "export": ["checkpoint", "format", "batch_size", "atol", "rtol", "onnx_opset", "seed", "quantize"],
    "predict": ["checkpoint", "input", "format", "onnx", "device", "batch_size", "top_k", "workers", "atol",
                "arrays.x", "arrays.y", "arrays.layout"],
}


def overrides(command: str) -> st.SearchStrategy[str]:
    """One override as a user might mistype it: a known or unknown key, added, set or removed."""
    key = st.one_of(st.sampled_from(KEYS[command]), unknown_keys)
    return st.one_of(
        st.tuples(st.sampled_from(["", "+", "++"]), key, values).map(lambda t: f"{t[0]}{t[1]}={t[2]}"),
        key.map(lambda k: f"~{k}"),
    )


# --- the CLI --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A genotype.json, and a retrain run of it (a checkpoint for evaluate and export)."""
    root = tmp_path_factory.mktemp("bad_input")
    space = build_option("search_space", "nb201")
    arch = space.sample(random.Random(0))
    genotype = root / "genotype.json"
    genotype.write_text(json.dumps(genotype_record(space, arch, {})))
    retrain = root / "retrain"
    result = run("retrain", "debug=smoke", f"genotype={genotype}", "plots=false", run_dir=retrain)
    assert result.code == 0, result.text
    inputs = root / "inputs.npz"  # new inputs for nas predict: the checkpoint's shape (digits' 8x8), with labels
    np.savez(inputs, x=np.arange(4 * 64, dtype=np.uint8).reshape(4, 8, 8) % 17, y=np.array([0, 1, 2, 3]))
    return {"root": root, "genotype": genotype, "checkpoint": retrain, "inputs": inputs}


def base(command: str, override: str, runs: dict[str, Path]) -> list[str]:
    """The smallest real run of `command`, with `override` last so that it wins."""
    key = override.lstrip("+~").split("=", 1)[0]
    fixed = {"search": ["debug=smoke", "budget.trials=1", "plots=false"],
             "retrain": ["debug=smoke", f"genotype={runs['genotype']}", "plots=false"],
             "evaluate": ["debug=smoke", f"checkpoint={runs['checkpoint']}", "latency.repeats=2"],
             "export": [f"checkpoint={runs['checkpoint']}", "format=torchscript"],
             "predict": [f"checkpoint={runs['checkpoint']}", f"input={runs['inputs']}"]}[command]
    if command == "search" and key.startswith("budget"):
        fixed.append("budget.seconds=5")  # budget.trials=null means no limit: a bound still, but a short one
    return [*fixed, override]


def check_cli(command: str, override: str, runs: dict[str, Path]) -> str:
    """How `nas <command> ... <override>` ended: "hydra" (Hydra's message, exit 2), "error" (ours), "ran"."""
    args = base(command, override, runs)
    if group_value_mistake(args):  # what `nas` checks before Hydra composes (nascli.apps)
        return "error"
    try:
        with time_limit():
            result = run(command, *args, run_dir=fresh(runs["root"], command))
    except (HydraException, OmegaConfBaseException) as exc:
        assert str(exc).strip(), args  # Hydra's message: `nas` exits 2 with it (nascli.apps)
        return "hydra"
    assert result.code in (0, 2, 3, 74), (args, result.code, result.text)  # 3: diverged, 74: storage
    if result.code:
        assert "error:" in result.err, (args, result.text)
    return "error" if result.code else "ran"


COMMAND_CASES = {"search": 40, "retrain": 30, "evaluate": 20, "export": 20, "predict": 20}
RUNS = {"search": "seed=1", "retrain": "trainer.lr=0.01", "evaluate": "batch_size=2", "export": "batch_size=2",
        "predict": "batch_size=2"}


@pytest.mark.slow
@pytest.mark.parametrize("command", list(COMMAND_CASES))
def test_odd_overrides_end_in_a_clear_error_or_a_run(command: str, runs: dict[str, Path]) -> None:
    ends: Counter[str] = Counter()

    @settings(max_examples=COMMAND_CASES[command], **SETTINGS)
    @given(overrides(command))
    @example(RUNS[command])  # one that must run, beside the drawn ones
    def case(override: str) -> None:
        ends[check_cli(command, override, runs)] += 1

    case()
    print(f"nas {command}: {dict(ends)}")
    assert ends["ran"] and ends["error"] and ends["hydra"], ends  # every kind of end was reached


# --- genotype.json ------------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8)


@st.composite
def genotype_files(draw: st.DrawFn) -> bytes:
    """A valid genotype.json of the nb201 or darts space with one or more parts changed, or damaged bytes."""
    name = draw(st.sampled_from(["nb201", "darts"]))
    space = build_option("search_space", name)
    record = genotype_record(space, space.sample(random.Random(draw(st.integers(0, 9)))), {"val_accuracy": 50.0})
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*record, "hparams", "extra"]))
        how = draw(st.sampled_from(["value", "delete", "space_config", "arch"]))
        if how == "delete":
            record.pop(key, None)
        elif how == "space_config":
            config = dict(space.config())
            config[draw(st.sampled_from([*config, "other"]))] = draw(json_values)
            record["space_config"] = config
        elif how == "arch" and isinstance(record.get("arch"), list) and record["arch"]:
            arch = list(record["arch"])
            arch[draw(st.integers(0, len(arch) - 1))] = draw(json_values)
            record["arch"] = arch
        else:
            record[key] = draw(json_values)
    text = json.dumps(record).encode()
    damage = draw(st.sampled_from(["none", "none", "truncate", "bytes"]))
    if damage == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    if damage == "bytes":
        return draw(st.binary(max_size=64))
    return text


@pytest.mark.slow
def test_mutated_genotype_files_load_or_fail_clearly(tmp_path: Path) -> None:
    @settings(max_examples=150, **SETTINGS)
    @given(genotype_files())
    def case(content: bytes) -> None:
        path = fresh(tmp_path, "genotype")
        path.mkdir()
        (path / "genotype.json").write_bytes(content)
        try:
            with time_limit(20):
                space, arch, _ = load_genotype(str(path))
                network = space.build_network(arch, 10, 1, 8)  # what nas retrain does next
        except NasError as exc:
            assert str(exc).strip()
            tally("genotype.json", "error")
            return
        tally("genotype.json", "loaded")
        assert space.from_str(space.to_str(arch)) == arch  # a correct result: an architecture of its space ...
        assert network(torch.zeros(2, 1, 8, 8)).shape == (2, 10)  # ... whose network runs

    case()
    met_both_ends("genotype.json")


# --- benchmark tables -------------------------------------------------------------------------------------
HEADER = table_path("nb201").read_text().splitlines()[:6]


@st.composite
def tables(draw: st.DrawFn) -> str:
    """A few rows of the shipped nb201 table with columns dropped, cells replaced, or lines cut."""
    rows = [line.split(",") for line in HEADER]
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["drop_column", "cell", "cut_line", "rename"]))
        column = draw(st.integers(0, len(rows[0]) - 1))
        if how == "drop_column":
            rows = [[c for i, c in enumerate(r) if i != column] for r in rows]
        elif how == "rename":
            rows[0][column] = draw(st.sampled_from(["", "arch", "dataset", "val_accuracy", "Val_Accuracy", "x"]))
        elif how == "cell":
            line = draw(st.integers(1, len(rows) - 1))
            if column < len(rows[line]):
                rows[line][column] = draw(st.sampled_from(["", "nan", "inf", "-1e309", "abc", "1,2", '"', "86.0.1",
                                                           "|none~0|", "None", "1e999", "é"]))
        else:
            line = draw(st.integers(1, len(rows) - 1))
            rows[line] = rows[line][: draw(st.integers(0, len(rows[line])))]
        if not rows[0]:
            break
    return "\n".join(",".join(r) for r in rows) + "\n"


def test_damaged_benchmark_tables_load_or_fail_clearly(tmp_path: Path) -> None:
    space = build_option("search_space", "nb201")

    @settings(max_examples=100, **SETTINGS)
    @given(tables())
    def case(text: str) -> None:
        path = fresh(tmp_path, "table").with_suffix(".csv")
        path.write_text(text)
        try:
            with time_limit(20):
                table = CsvTable(path, space, None)
        except NasError as exc:
            assert str(exc).strip()
            tally("table", "error")
            return
        tally("table", "loaded")
        for task in table.tasks():  # a correct result: every row an architecture with numbers
            for arch in table.archs(task):
                assert isinstance(table.lookup(task, arch)["val_accuracy"], float)

    case()
    met_both_ends("table")


# --- checkpoints ----------------------------------------------------------------------------------------------
def _valid_checkpoint(path: Path) -> dict:
    space = build_option("search_space", "nb201", {"channels": 4, "cells_per_stage": 1})
    arch = space.sample(random.Random(1))
    model = space.build_network(arch, 10, 1, 8)
    save_checkpoint(path, model, genotype_record(space, arch, {}), {"num_classes": 10, "in_channels": 1,
                                                                     "input_size": 8, "name": "digits"},
                    {"name": "digits"}, {"epoch": 1})
    return torch.load(path, weights_only=True)


torch_values = st.one_of(
    st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(allow_nan=True), st.text(max_size=8),
    st.sampled_from([10**12, -5, 0, 2**63 - 1]),
    st.lists(st.integers(0, 3), max_size=3).map(lambda shape: torch.zeros(shape)),
    st.dictionaries(st.text(max_size=6), st.integers(-3, 10**9), max_size=3),
)


@st.composite
def checkpoint_files(draw: st.DrawFn, valid: dict, raw: bytes) -> bytes:
    """model.pt truncated or with flipped bytes, with parts of the wrong type or huge values, or another format."""
    kind = draw(st.sampled_from(["truncate", "flip", "part", "data", "weights", "other"]))
    if kind == "truncate":
        return raw[: draw(st.integers(0, len(raw) - 1))]
    if kind == "flip":
        data = bytearray(raw)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        return bytes(data)
    if kind == "other":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("archive/data.pkl", draw(st.binary(max_size=32)))
        return draw(st.sampled_from([b"", b"{}", json.dumps({"format": "nascli.checkpoint/1"}).encode(),
                                     buffer.getvalue(), b"\x80\x04K\x01.", b"PK\x03\x04", b"\x93NUMPY"]))
    ckpt = {**valid, "state_dict": dict(valid["state_dict"]), "data": dict(valid["data"]),
            "genotype": dict(valid["genotype"])}
    if kind == "part":
        ckpt[draw(st.sampled_from(["format", "state_dict", "genotype", "data", "dataset_config",
                                   "network_input"]))] = draw(torch_values)
    elif kind == "data":
        ckpt["data"][draw(st.sampled_from(["num_classes", "in_channels", "input_size"]))] = draw(torch_values)
    else:
        name = draw(st.sampled_from(sorted(ckpt["state_dict"])))
        ckpt["state_dict"][name] = draw(torch_values)
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)
    return buffer.getvalue()


def test_damaged_checkpoints_load_or_fail_clearly(tmp_path: Path) -> None:
    good = tmp_path / "model.pt"
    valid, raw = _valid_checkpoint(good), good.read_bytes()

    @settings(max_examples=120, **SETTINGS)
    @given(checkpoint_files(valid, raw))
    def case(content: bytes) -> None:
        path = fresh(tmp_path, "ckpt")
        path.mkdir()
        (path / "model.pt").write_bytes(content)
        try:
            with time_limit(20):
                ckpt, where = load_checkpoint(str(path))
                space, arch, model = build_model(ckpt, str(where))
        except NasError as exc:
            assert str(exc).strip()
            tally("model.pt", "error")
            return
        tally("model.pt", "loaded")
        data = ckpt["data"]
        assert sum(p.numel() for p in model.parameters()) > 0
        if data["input_size"] <= 64:  # a correct result: a network that runs (on a small enough input)
            out = model(torch.zeros(1, data["in_channels"], data["input_size"], data["input_size"]))
            assert out.shape[-1] == data["num_classes"]

    case()
    met_both_ends("model.pt")


# --- nas report over runs that did not complete, and over nothing ---------------------------------------
@pytest.fixture(scope="module")
def unfinished(runs: dict[str, Path]) -> dict[str, Path]:
    """Real runs that did not complete: a retrain whose genotype does not exist (failed), a search
    stopped with Ctrl-C after its first trial (interrupted), one killed then (still `running`); and the
    module's completed retrain."""
    root = runs["root"] / "unfinished"
    dirs = {name: root / name for name in ("failed", "interrupted", "killed")}
    assert run("retrain", "debug=smoke", "genotype=/does/not/exist", run_dir=dirs["failed"]).code == 2
    stopped(["search", "debug=smoke", "budget.trials=5000"],  # minutes of trials: it ends by its signal
            {dirs["interrupted"]: signal.SIGINT, dirs["killed"]: signal.SIGKILL}, cwd=root)
    return {**dirs, "completed": runs["checkpoint"]}


REPORT_KEYS = ["command", "argv", "status", "started", "finished", "error", "trials", "best", "elapsed_s", "train_s",
               "val_accuracy"]
changes = st.tuples(st.sampled_from(["report.json", "trials.csv"]), st.sampled_from(["delete", "set", "cut", "bytes"]),
                    st.sampled_from(REPORT_KEYS), json_values, st.integers(0, 400), st.binary(max_size=32))


@st.composite
def report_inputs(draw: st.DrawFn) -> dict:
    """What a user may give `nas report` after runs went wrong: 1-3 failed, interrupted or killed runs
    (one kind, or mixed, a completed one among them), as run directories or as a sweep's jobs, with
    their report.json or trials.csv changed; or nothing: an empty folder, a sweep stopped before its
    first job, a sweep whose jobs were killed before they wrote anything."""
    kind = draw(st.sampled_from(["failed", "interrupted", "killed", "mixed", "empty"]))
    if kind == "empty":
        return {"empty": draw(st.sampled_from(["folder", "sweep", "jobs"]))}
    pool = ["failed", "interrupted", "killed", "completed"] if kind == "mixed" else [kind]
    names = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
    edits = draw(st.lists(st.tuples(st.integers(0, len(names) - 1), changes), max_size=2))
    return {"runs": names, "sweep": draw(st.booleans()), "edits": edits}


def edit(path: Path, how: str, key: str, value: object, cut: int, data: bytes) -> None:
    """One change to a run's file: a report key deleted or set to an odd value, the file cut short, or bytes."""
    if not path.is_file():
        return
    if how == "cut":
        path.write_bytes(path.read_bytes()[:cut])
    elif how == "bytes":
        path.write_bytes(data)
    elif path.name == "report.json":
        try:
            report = json.loads(path.read_bytes())
        except ValueError:  # damaged by an earlier change already
            return
        if not isinstance(report, dict):
            return
        if how == "delete":
            report.pop(key, None)
        else:
            report[key] = value
        path.write_text(json.dumps(report))


def lay_out(case: dict, templates: dict[str, Path], root: Path) -> list[Path]:
    """The directories the case gives `nas report`, made under `root`."""
    if "empty" in case:
        folder = root / "nothing"
        folder.mkdir(parents=True)
        if case["empty"] in ("sweep", "jobs"):
            (folder / "multirun.yaml").write_text("hydra:\n  mode: MULTIRUN\n")
        if case["empty"] == "jobs":
            (folder / "0").mkdir()
            (folder / "1").mkdir()
        return [folder]
    dirs = [root / "sweep" / str(i) if case["sweep"] else root / f"{name}-{i}" for i, name in enumerate(case["runs"])]
    for name, target in zip(case["runs"], dirs):
        shutil.copytree(templates[name], target, ignore=shutil.ignore_patterns(".lock", "*.pt"))
    for i, (file, how, key, value, cut, data) in case["edits"]:
        edit(dirs[i] / file, how, key, value, cut, data)
    return [root / "sweep"] if case["sweep"] else dirs


@pytest.mark.slow
def test_nas_report_over_unfinished_runs_and_nothing_lists_them_or_fails_clearly(
        unfinished: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ends: Counter[str] = Counter()

    @settings(max_examples=40, **SETTINGS)
    @given(report_inputs())
    @example({"runs": ["failed"], "sweep": False, "edits": []})  # the case, as it was
    @example({"empty": "sweep"})
    def case(given_case: dict) -> None:
        root = fresh(tmp_path, "report")
        dirs = lay_out(given_case, unfinished, root)
        with time_limit():
            code = report_main([*map(str, dirs), "--out", str(root / "out")])
        out, err = capsys.readouterr()
        assert code in (0, 2), (given_case, code, out, err)
        if code:
            assert "nas report: error: " in err, (given_case, err)
            ends["error"] += 1
            return
        ends["listed"] += 1
        with open(root / "out" / "runs.csv", newline="") as handle:
            listed = list(csv.DictReader(handle))
        assert len(listed) == len(given_case.get("runs", [0, 1])), (given_case, listed)  # every run, once
        assert all(r["reason"] for r in listed if r["status"] != "completed"), listed  # each with why
        wrote = out.split("wrote ", 1)[1].split(" to ")[0].split(", ")
        assert all((root / "out" / name).is_file() for name in wrote), (wrote, out)

    case()
    print(f"nas report: {dict(ends)}")
    assert ends["listed"] and ends["error"], ends


