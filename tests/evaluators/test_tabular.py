"""The tabular evaluator: table values, clear errors, never the dataset, simulated cost, the subset
space, official-API tables through a stand-in package, and `nas search evaluator=tabular`."""

from __future__ import annotations

import csv
import random
import sys
import types
from pathlib import Path

import pytest
from nasrun import BENCHMARKS, nas, read_json, read_trials
from rich.console import Console

from nascli.errors import NasError
from nascli.evaluators.base import EvalContext
from nascli.evaluators.tabular import TabularEvaluator
from nascli.hardware.target import HardwareTarget
from nascli.search.loop import Budget, run_sample_search
from nascli.search.trials import TrialLog
from nascli.spaces.nb201 import NB201Space
from nascli.spaces.subset import SubsetSpace
from nascli.strategies.random import RandomSearch

TABLE = BENCHMARKS / "nb201_subset.csv"


def no_data():
    raise AssertionError("the tabular evaluator loaded the dataset")


def tabular(task: str = "cifar10", table: Path = TABLE, **options) -> TabularEvaluator:
    return TabularEvaluator(EvalContext(NB201Space(), 0, "cpu", None, load_data=no_data), str(table), task, **options)


def table_rows(task: str) -> list[dict[str, str]]:
    with open(TABLE) as handle:
        return [row for row in csv.DictReader(handle) if row["dataset"] == task]


def test_lookup_returns_the_tables_values() -> None:
    evaluator, space = tabular("cifar100"), NB201Space()
    for row in table_rows("cifar100")[:50]:
        metrics = evaluator.evaluate(space.from_str(row["arch"]))
        assert metrics["val_accuracy"] == float(row["val_accuracy"])
        assert metrics["params_m"] == float(row["params_m"]) and metrics["flops_m"] == float(row["flops_m"])
    best = max(table_rows("cifar10"), key=lambda r: float(r["val_accuracy"]))
    assert tabular().evaluate(space.from_str(best["arch"]))["val_accuracy"] == 91.36


def test_missing_architecture_is_a_clear_error() -> None:
    evaluator, space = tabular(restrict_space=False), NB201Space()
    present = {space.from_str(r["arch"]) for r in table_rows("cifar10")}
    missing = next(a for a in (space.sample(random.Random(i)) for i in range(1000)) if a not in present)
    with pytest.raises(NasError, match="not in the benchmark table") as info:
        evaluator.evaluate(missing)
    with open(TABLE) as handle:
        rows = sum(1 for _ in csv.DictReader(handle))
    assert space.to_str(missing) in str(info.value) and f"{rows} rows" in str(info.value)


def test_missing_task_and_table_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="Task 'imagenet' is not in .* its tasks are: cifar10, cifar100"):
        tabular("imagenet")
    with pytest.raises(NasError, match="does not exist"):
        tabular(table=tmp_path / "absent.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("dataset,arch,val_accuracy\ncifar10,|nonsense~0|,1.0\n")
    with pytest.raises(NasError, match="Line 2 .* not an architecture of the nb201 space"):
        tabular(table=bad)


def test_restricted_space_holds_exactly_the_tables_architectures() -> None:
    evaluator, base = tabular(), NB201Space()
    space = evaluator.space_for_search(base)
    archs = {base.from_str(r["arch"]) for r in table_rows("cifar10")}
    assert isinstance(space, SubsetSpace) and set(space.archs) == archs
    assert tabular(restrict_space=False).space_for_search(base) is base


def test_subset_space_samples_and_mutates_inside_the_subset() -> None:
    base, rng = NB201Space(), random.Random(0)
    members = [base.sample(rng) for _ in range(200)]
    subset = SubsetSpace(base, members)
    for _ in range(200):
        arch = subset.sample(rng)
        child = subset.mutate(arch, rng)
        assert arch in members and child in members and child != arch
        assert subset.is_valid(subset.encode(child))
    outside = next(a for a in (base.sample(rng) for _ in range(100)) if a not in members)
    assert not subset.is_valid(base.encode(outside))
    # a member with a neighbour at distance 1 in the subset: mutation finds neighbours there
    neighbour = base.decode([(base.encode(members[0])[0] + 1) % 5, *base.encode(members[0])[1:]])
    pair = SubsetSpace(base, [members[0], neighbour, *members[1:5]])
    assert pair.mutate(members[0], rng) in pair.archs


def test_simulated_cost_drives_budget_seconds(tmp_path: Path) -> None:
    timed = tmp_path / "timed.csv"
    rows = table_rows("cifar10")[:40]
    with open(timed, "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["dataset", "arch", "val_accuracy", "params_m", "flops_m", "train_time_s"])
        writer.writeheader()
        for row in rows:
            writer.writerow({**{k: row[k] for k in ("dataset", "arch", "val_accuracy", "params_m", "flops_m")},
                             "train_time_s": 100.0})
    evaluator = tabular(table=timed, cost_column="train_time_s")
    assert evaluator.simulated_cost
    space = evaluator.space_for_search(NB201Space())
    log = TrialLog(tmp_path)
    stopped = run_sample_search(space, RandomSearch(space, seed=0), evaluator, HardwareTarget(), Budget(seconds=450.0),
                                log, on_trial=lambda: None, console=Console(quiet=True))
    assert stopped == "seconds" and len(log) == 5  # 5 x 100 simulated seconds >= 450
    assert all(r["cost_s"] == 100.0 for r in log.rows) and log.rows[-1]["elapsed_s"] < 450


def test_official_api_tables_through_their_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    space = NB201Space()
    arch_str = table_rows("cifar10")[0]["arch"]

    class FakeApi:
        meta_archs = [arch_str]

        def __init__(self, path, verbose=False):
            self.path = path

        def __len__(self):
            return 1

        def query_index_by_arch(self, text):
            return 0 if text == arch_str else -1

        def get_more_info(self, index, dataset, hp, is_random):
            return {"valid-accuracy": 90.5, "train-all-time": 1234.0}

        def get_cost_info(self, index, dataset):
            return {"params": 0.5, "flops": 70.0}

    monkeypatch.setitem(sys.modules, "nas_201_api", types.SimpleNamespace(NASBench201API=FakeApi))
    (tmp_path / "NAS-Bench-201.pth").write_bytes(b"")
    evaluator = tabular("cifar10-valid", table=tmp_path / "NAS-Bench-201.pth", format="nas_201_api")
    assert evaluator.evaluate(space.from_str(arch_str)) == {"val_accuracy": 90.5, "params_m": 0.5, "flops_m": 70.0,
                                                            "cost_s": 1234.0}
    assert evaluator.simulated_cost
    monkeypatch.setitem(sys.modules, "nats_bench", None)  # not installed
    with pytest.raises(NasError, match="pip install nats-bench"):
        tabular("cifar10", table=tmp_path / "NAS-Bench-201.pth", format="nats_bench")



TABULAR = ("search_space=nb201", "evaluator=tabular", f"evaluator.table={TABLE}", "evaluator.task=cifar10")


def test_cli_evolution_on_the_table_reports_the_tables_accuracy(tmp_path: Path) -> None:
    run_dir = tmp_path / "evo"
    result = nas("search", "strategy=evolution", *TABULAR, "budget.trials=30", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.code == 0, result.text
    genotype = read_json(run_dir / "genotype.json")
    expected = {r["arch"]: float(r["val_accuracy"]) for r in table_rows("cifar10")}
    assert genotype["metrics"]["val_accuracy"] == expected[genotype["arch_str"]]
    trials = read_trials(run_dir)
    assert len(trials) == 30 and all(float(r["val_accuracy"]) == expected[r["arch_str"]] for r in trials)
    assert not (tmp_path / "data").exists()  # the dataset was never loaded


@pytest.mark.parametrize("strategy", ["evolution", "bo"])
def test_cli_resume_equals_the_uninterrupted_search(tmp_path: Path, strategy: str) -> None:
    full, part = tmp_path / "full", tmp_path / "part"
    common = (f"strategy={strategy}", *TABULAR, "plots=false")
    assert nas("search", *common, "budget.trials=24", f"hydra.run.dir={full}", cwd=tmp_path).code == 0
    assert nas("search", *common, "budget.trials=13", f"hydra.run.dir={part}", cwd=tmp_path).code == 0
    resumed = nas("search", *common, "budget.trials=24", "resume=true", f"hydra.run.dir={part}", cwd=tmp_path)
    assert resumed.code == 0, resumed.text
    assert read_trials(part) == read_trials(full) and len(read_trials(full)) == 24
