"""Data-parallel gradient-based search: two processes, each on its slice of every global batch, take
the steps one process takes on the whole batches (DARTS first and second order, PC-DARTS, GDAS);
GDAS samples one path for both; `nas search` under torchrun writes only in rank 0, resumes after a
kill, and refuses a strategy that cannot train data-parallel.

The two processes are forked from the test process into one gloo group (tests/two_processes.py);
one test starts them with torchrun itself, through the command line. The supernets have one cell
per stage: deeper ones amplify float rounding chaotically (in one process, weights moved by 1e-7
differ by 5e-3 two steps later with five cells per stage: Adam turns the rounding of near-zero
architecture gradients into whole steps), so exactness is checked where it can be."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from configured import CPU, dataset, search_trainer, space, strategy
from nasrun import read_json, read_trials, run
from two_processes import in_two_processes

from nascli.strategies.base import SearchContext
from nascli.training.data_parallel import DriftError

# name, strategy options: both orders of DARTS, PC-DARTS (partial channels, edge betas), GDAS (sampled paths)
# and FairDARTS (a term of the architecture loss besides the validation loss, the same in every process)
CASES = {"darts1": ("darts", {"order": "first"}), "darts2": ("darts", {"order": "second"}),
         "pcdarts": ("pcdarts", {"warmup_epochs": 0, "partial_channels": 2}), "gdas": ("gdas", {}),
         "fairdarts": ("fairdarts", {})}
# batch 15 of 32-image halves: two steps an epoch of slices of 8 + 7 images (uneven: the loss weights matter)
TRAINER = {"epochs": 2, "batch_size": 15, "eval_batch_size": 64}


def _search(name: str):
    kind, options = CASES[name]
    searcher = strategy(kind, space("nb201", channels=4, cells_per_stage=1), seed=0,
                        trainer=search_trainer(kind, **TRAINER), **options)
    data = dataset("digits", max_train_samples=64)
    searcher.setup(SearchContext(CPU, lambda: data))
    return searcher


def _record_paths(searcher) -> list[list[int]]:
    """The ops GDAS' mixing samples at each training forward, recorded as they are drawn."""
    paths: list[list[int]] = []
    plan = searcher.net.mixing.plan

    def recorded(alpha, edge_weights, training):
        steps = plan(alpha, edge_weights, training)
        if training:
            paths.append([s.index for s in steps])
        return steps

    searcher.net.mixing.plan = recorded
    return paths


def _epoch_of_each(rank: int | None = None) -> dict[str, dict]:
    """One epoch of each case: the supernet's state after it, the epoch's row and GDAS' paths."""
    out = {}
    for name in CASES:
        searcher = _search(name)
        paths = _record_paths(searcher) if name == "gdas" else []
        proposal = searcher.step()
        out[name] = {"state": {k: v.clone() for k, v in searcher.net.state_dict().items()},
                     "row": {**proposal.metrics, **{k: proposal.columns[k] for k in ("train_loss", "val_loss")}},
                     "arch": proposal.arch, "paths": paths,
                     "checked": searcher.agreement.checked if searcher.agreement else 0}
    return out


@pytest.fixture(scope="module")
def epochs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict]]:
    """(one process's epoch of each case, each of two processes' epochs)."""
    return _epoch_of_each(), in_two_processes(_epoch_of_each, tmp_path_factory.mktemp("group"))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_two_processes_train_as_one_process_on_the_global_batch(epochs, name: str) -> None:
    one, two = epochs[0][name], [ranks[name] for ranks in epochs[1]]
    for key, value in one["state"].items():  # weights, alphas (and betas), BatchNorm statistics
        for rank in two:
            assert torch.allclose(rank["state"][key].double(), value.double(), atol=2e-6, rtol=1e-5), key
    assert all(torch.equal(two[0]["state"][k], two[1]["state"][k]) for k in one["state"])  # bit for bit alike
    for rank in two:
        assert rank["row"]["val_accuracy"] == one["row"]["val_accuracy"]
        assert rank["row"]["train_accuracy"] == one["row"]["train_accuracy"]
        assert rank["row"]["train_loss"] == pytest.approx(one["row"]["train_loss"], abs=1e-5)
        assert rank["row"]["val_loss"] == pytest.approx(one["row"]["val_loss"], abs=1e-5)
        assert rank["arch"] == one["arch"]
        assert rank["checked"] == 3  # before each of the 2 steps, and with the weights at the epoch's end


@pytest.mark.slow
def test_gdas_samples_one_path_for_every_process(epochs) -> None:
    one, two = epochs[0]["gdas"]["paths"], [ranks["gdas"]["paths"] for ranks in epochs[1]]
    assert len(one) >= 2 and two[0] == two[1] == one
    assert len({tuple(p) for p in one}) > 1  # the path changes from step to step


def test_processes_that_drift_apart_stop_with_a_clear_error_before_they_sample_two_paths(tmp_path: Path) -> None:
    def drifted(rank: int) -> str:
        searcher = _search("gdas")
        if rank == 1:
            with torch.no_grad():
                searcher.net.arch_parameters()[0][0, 0] += 1e-3
        try:
            searcher.step()
        except DriftError as exc:
            return str(exc)
        return "no error"

    messages = in_two_processes(drifted, tmp_path)
    assert messages[0] == messages[1]
    assert "no longer hold the same architecture parameters or path samplers (GDAS)" in messages[0]


# --- nas search under two processes ------------------------------------------------------------------
SEARCH = ["debug=smoke", "strategy=darts", "strategy.order=first", "trainer.epochs=3", "trainer.batch_size=15",
          "dataset.max_train_samples=64", "search_space.cells_per_stage=1", "plots=false"]


def _search_in(run_dir: Path, *extra: str):
    def search(rank: int):
        result = run("search", *SEARCH, *extra, run_dir=run_dir)
        return result.code, result.text
    return search


@pytest.mark.slow
def test_a_data_parallel_search_writes_in_rank_zero_only_and_resumes_after_a_kill(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    whole, killed = runs / "whole", runs / "killed"
    assert run("search", *SEARCH, run_dir=whole).code == 0
    context = multiprocessing.get_context("fork")
    group = [context.Process(target=_killable, args=(_search_in(killed), rank, tmp_path / "store")) for rank in range(2)]
    for process in group:
        process.start()
    deadline = time.monotonic() + 60
    while not (killed / "checkpoint.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    for process in group:  # as when a node is lost: every process at once, mid-epoch
        os.kill(process.pid, signal.SIGKILL)
        process.join()
    assert 1 <= len(read_trials(killed)) < 3 and read_json(killed / "report.json")["status"] == "running"

    results = in_two_processes(_search_in(killed, "resume=true"), tmp_path / "group")
    assert [code for code, _ in results] == [0, 0], results[0][1] + results[1][1]
    assert "Resuming from trial" in results[0][1] and results[1][1] == ""  # rank 1 prints nothing
    ours, single = read_trials(killed), read_trials(whole)
    assert [r["arch_str"] for r in ours] == [r["arch_str"] for r in single]
    for a, b in zip(ours, single):
        assert a["val_accuracy"] == b["val_accuracy"] and a["train_accuracy"] == b["train_accuracy"]
        assert float(a["train_loss"]) == pytest.approx(float(b["train_loss"]), abs=1e-5)
    states = [torch.load(d / "checkpoint.pt", weights_only=True)["state"]["supernet"] for d in (killed, whole)]
    assert max((states[0][k].double() - states[1][k].double()).abs().max().item() for k in states[1]) < 1e-5
    report = read_json(killed / "report.json")
    assert report["status"] == "completed" and report["processes"] == 2 and report["resumed"]
    assert set(os.listdir(runs)) - {"data"} == {"killed", "whole"}  # rank 1 made no directory of its own
    assert not list(killed.glob("*.tmp*"))


def _killable(search, rank: int, store: Path) -> None:
    """search(rank) in a forked process of a gloo group, until it ends or is killed."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update({"WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank)})
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    search(rank)
    os._exit(0)


def test_a_strategy_that_cannot_train_data_parallel_is_refused_under_torchrun(tmp_path: Path) -> None:
    def search(rank: int):
        result = run("search", "debug=smoke", "strategy=random", run_dir=tmp_path / "run")
        return result.code, result.err

    (code, message), (code1, message1) = in_two_processes(search, tmp_path)
    assert code == code1 == 2 and message1 == message  # each process stops with the message
    assert "strategy=random cannot train data-parallel" in message and "search.workers" in message
    assert read_json(tmp_path / "run" / "report.json")["status"] == "failed"  # before any training


def test_every_process_stops_when_rank_zeros_clock_says_so(tmp_path: Path) -> None:
    """budget.seconds: the processes' clocks differ, rank 0's decides for all (no process trains an
    epoch the others do not, which would wait for them forever)."""
    from nascli.commands.search import _shared
    from nascli.search.budget import Budget

    def spent(rank: int) -> list:
        budget = _shared(Budget(trials=None, seconds=10.0))
        return [budget.exhausted(0, elapsed) for elapsed in ((5.0, 11.0), (12.0, 9.0))[rank]]

    assert in_two_processes(spent, tmp_path) == [[None, "seconds"], [None, "seconds"]]
    assert type(_shared(Budget(trials=3, seconds=None))) is Budget  # trials count alike everywhere: nothing to share


@pytest.mark.slow
def test_torchrun_search_equals_one_process_and_writes_one_run_directory(tmp_path: Path) -> None:
    """`torchrun --nproc_per_node=2 -m nascli search strategy=gdas`: Hydra in every process, rank 0's
    run directory for both, the one-process run's trials and supernet."""
    overrides = ["debug=smoke", "strategy=gdas", "trainer.epochs=2", "trainer.batch_size=31",
                 "dataset.max_train_samples=128", "search_space.cells_per_stage=1", "plots=false"]
    ddp = tmp_path / "ddp"
    env = {**os.environ, "COLUMNS": "200", "NASCLI_DATA_DIR": str(tmp_path / "data"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "nascli", "search", *overrides, f"hydra.run.dir={ddp}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    one = tmp_path / "one"
    assert run("search", *overrides, run_dir=one).code == 0

    assert set(os.listdir(tmp_path)) - {"data"} == {"ddp", "one"}  # no directory of rank 1's own
    assert sorted(os.listdir(ddp)) == [".hydra", ".lock", "alphas.csv", "alphas.json", "checkpoint.json",
                                       "checkpoint.pt", "genotype.json", "report.json", "report.md", "search.log",
                                       "trials.csv"]
    assert read_json(ddp / "report.json")["processes"] == 2
    ours, single = read_trials(ddp), read_trials(one)
    assert [(r["arch_str"], r["val_accuracy"], r["tau"]) for r in ours] == [
        (r["arch_str"], r["val_accuracy"], r["tau"]) for r in single]
    states = [torch.load(d / "checkpoint.pt", weights_only=True)["state"]["supernet"] for d in (ddp, one)]
    assert max((states[0][k].double() - states[1][k].double()).abs().max().item() for k in states[1]) < 1e-5
