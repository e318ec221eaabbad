"""The tabular evaluator: the shipped table's values, clear errors, never the dataset, simulated cost,
the subset space, official-API tables through a stand-in package, and `nas search evaluator=tabular`."""

from __future__ import annotations

import csv
import random
import sys
import types
from pathlib import Path

import pytest
from configured import CPU, evaluator, hardware, restricted, space, strategy
from nasrun import read_json, read_trials, run
from rich.console import Console

from nascli.benchmarks import table_path
from nascli.errors import NasError
from nascli.evaluators.base import EvalContext
from nascli.search.budget import Budget
from nascli.search.engine import SearchEngine, SearchRun
from nascli.spaces.subset import SubsetSpace
from nascli.strategies.base import SearchContext

NB201 = space("nb201")
TABLE = table_path("nb201")  # the table that ships with nascli, evaluator.table=nb201


def no_data():
    raise AssertionError("the tabular evaluator loaded the dataset")


def tabular(task: str = "cifar10", table: str | Path = "nb201", **options):
    context = EvalContext(NB201, 0, CPU, None, load_data=no_data)
    return evaluator("tabular", context, table=str(table), task=task, **options)


def table_rows(task: str) -> list[dict[str, str]]:
    with open(TABLE) as handle:
        return [row for row in csv.DictReader(handle) if row["dataset"] == task]


def test_the_table_ships_with_nascli_and_is_found_by_name() -> None:
    assert TABLE.is_file() and TABLE.name == "nb201.csv"
    assert tabular().table.path == TABLE
    assert tabular().table.tasks() == ["cifar10", "cifar100"] and len(table_rows("cifar10")) == 724


def test_lookup_returns_the_tables_values() -> None:
    cifar100 = tabular("cifar100")
    for row in table_rows("cifar100")[:50]:
        metrics = cifar100.evaluate(NB201.from_str(row["arch"]))
        assert metrics["val_accuracy"] == float(row["val_accuracy"])
        assert metrics["params_m"] == float(row["params_m"]) and metrics["flops_m"] == float(row["flops_m"])
    best = max(table_rows("cifar10"), key=lambda r: float(r["val_accuracy"]))
    assert tabular().evaluate(NB201.from_str(best["arch"]))["val_accuracy"] == 91.36


def test_missing_architecture_is_a_clear_error() -> None:
    unrestricted = tabular(restrict_space=False)
    present = {NB201.from_str(r["arch"]) for r in table_rows("cifar10")}
    missing = next(a for a in (NB201.sample(random.Random(i)) for i in range(1000)) if a not in present)
    with pytest.raises(NasError, match="not in the benchmark table") as info:
        unrestricted.evaluate(missing)
    with open(TABLE) as handle:
        rows = sum(1 for _ in csv.DictReader(handle))
    assert NB201.to_str(missing) in str(info.value) and f"{rows} rows" in str(info.value)


def test_missing_task_and_table_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="Task 'imagenet' is not in .* its tasks are: cifar10, cifar100"):
        tabular("imagenet")
    absent = r"The benchmark table .*absent.csv does not exist: .* ships with nascli \(nb101, nb201\)"
    with pytest.raises(NasError, match=absent):
        tabular(table=tmp_path / "absent.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("dataset,arch,val_accuracy\ncifar10,|nonsense~0|,1.0\n")
    with pytest.raises(NasError, match="Line 2 .* not an architecture of the nb201 space"):
        tabular(table=bad)


def test_restricted_space_holds_exactly_the_tables_architectures() -> None:
    """Decided from the evaluator's options before it is built (Evaluator.restrict), so that the
    evaluator is built for the space strategies search."""
    searched = restricted("tabular", NB201, table="nb201", task="cifar10")
    archs = {NB201.from_str(r["arch"]) for r in table_rows("cifar10")}
    assert isinstance(searched, SubsetSpace) and set(searched.archs) == archs and searched.base is NB201
    assert restricted("tabular", NB201, table="nb201", task="cifar10", restrict_space=False) is NB201
    scorer = evaluator("tabular", EvalContext(searched, 0, CPU, None, load_data=no_data), table="nb201", task="cifar10")
    assert scorer.context.space is searched and scorer.table is tabular().table  # the file is read once for both


def test_subset_space_samples_and_mutates_inside_the_subset() -> None:
    base, rng = NB201, random.Random(0)
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
    searched = restricted("tabular", NB201, table=str(timed), task="cifar10", cost_column="train_time_s")
    timed_table = evaluator("tabular", EvalContext(searched, 0, CPU, None, load_data=no_data), table=str(timed),
                            task="cifar10", cost_column="train_time_s")
    assert timed_table.simulated_cost
    engine = SearchEngine(searched, strategy("random", searched, seed=0), timed_table, hardware("none"),
                          Budget(None, 450.0), SearchContext(CPU, no_data),
                          SearchRun(tmp_path / "run", {"test": 1}, Console(quiet=True), plots=False))
    stopped = engine.run(resume=False)
    rows = engine.trials.rows
    assert stopped == "seconds" and len(rows) == 5  # 5 x 100 simulated seconds >= 450
    assert all(r["cost_s"] == 100.0 for r in rows) and rows[-1]["elapsed_s"] < 450


def test_official_api_tables_through_their_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
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
    official = tabular("cifar10-valid", table=tmp_path / "NAS-Bench-201.pth", format="nas_201_api")
    assert official.evaluate(NB201.from_str(arch_str)) == {"val_accuracy": 90.5, "params_m": 0.5, "flops_m": 70.0,
                                                           "cost_s": 1234.0}
    assert official.simulated_cost
    monkeypatch.setitem(sys.modules, "nats_bench", None)  # not installed
    with pytest.raises(NasError, match="pip install nats-bench"):
        tabular("cifar10", table=tmp_path / "NAS-Bench-201.pth", format="nats_bench")


TABULAR = ("search", "search_space=nb201", "evaluator=tabular", "evaluator.table=nb201", "evaluator.task=cifar10")


def test_cli_evolution_on_the_table_reports_the_tables_accuracy(tmp_path: Path) -> None:
    # dataset=cifar10 with no images on disk and no download: loading it would fail the run
    run_dir = tmp_path / "evo"
    result = run(*TABULAR, "strategy=evolution", "budget.trials=30", "dataset=cifar10", "dataset.download=false",
                 run_dir=run_dir)
    assert result.code == 0, result.text
    genotype = read_json(run_dir / "genotype.json")
    expected = {r["arch"]: float(r["val_accuracy"]) for r in table_rows("cifar10")}
    assert genotype["metrics"]["val_accuracy"] == expected[genotype["arch_str"]]
    trials = read_trials(run_dir)
    assert len(trials) == 30 and all(float(r["val_accuracy"]) == expected[r["arch_str"]] for r in trials)
    assert not (tmp_path / "data").exists()  # the dataset was never loaded


@pytest.mark.parametrize("name", ["evolution", "bo"])
def test_cli_resume_equals_the_uninterrupted_search(tmp_path: Path, name: str) -> None:
    full, part = tmp_path / "full", tmp_path / "part"
    common = (*TABULAR, f"strategy={name}", "plots=false")
    assert run(*common, "budget.trials=24", run_dir=full).code == 0
    assert run(*common, "budget.trials=13", run_dir=part).code == 0
    assert len(read_trials(part)) == 13
    resumed = run(*common, "budget.trials=24", "resume=true", run_dir=part)
    assert resumed.code == 0, resumed.text
    assert read_trials(part) == read_trials(full) and len(read_trials(full)) == 24


def test_the_restricted_space_costs_and_builds_as_its_base() -> None:
    """A search over a table's architectures uses the base space's latency pieces and supernet."""
    base = space("nb201")
    subset = restricted("tabular", base, table="nb201", task="cifar10")
    arch = subset.sample(random.Random(0))
    assert [u.key for u in subset.cost_units(10, 3, 32)] == [u.key for u in base.cost_units(10, 3, 32)]
    assert subset.chosen(arch) == base.chosen(arch) and subset.smallest() == base.smallest()
    from nascli.weight_sharing.mixing import SinglePath
    from nascli.weight_sharing.supernet import build_supernet

    small_base = space("nb201", channels=4, cells_per_stage=1)
    small_subset = restricted("tabular", small_base, table="nb201", task="cifar10")
    supernets = [build_supernet(s, 10, 3, 8, SinglePath()) for s in (small_subset, small_base)]
    assert str(supernets[0]) == str(supernets[1])


def test_the_nb101_table_scores_each_cell_with_the_mean_of_its_rows() -> None:
    """NAS-Bench-101's table lists specs; several prune to one cell (55 to the bare input -> output
    cell), each row one training run of it: the cell scores their mean."""
    nb101 = space("nb101")
    scorer = evaluator("tabular", EvalContext(nb101, 0, CPU, None, load_data=no_data), table="nb101", task="cifar10")
    with open(table_path("nb101")) as handle:
        rows = list(csv.DictReader(handle))
    bare = [float(r["val_accuracy"]) for r in rows if nb101.from_str(r["arch"]) == nb101.smallest()]
    assert len(bare) > 1 and len(set(bare)) > 1
    assert scorer.evaluate(nb101.smallest())["val_accuracy"] == pytest.approx(sum(bare) / len(bare))
    searched = restricted("tabular", nb101, table="nb101", task="cifar10")
    assert len(searched) == len({nb101.from_str(r["arch"]) for r in rows}) < len(rows)


@pytest.mark.parametrize("name", ["random", "evolution", "genetic", "reinforce", "bo", "sh"])
def test_cli_search_of_the_nb101_table_with_every_sample_strategy(tmp_path: Path, name: str) -> None:
    """`nas search search_space=nb101 evaluator=tabular evaluator.table=nb101 dataset=cifar10` never
    loads the dataset, and a seed repeats its trials."""
    command = ("search", "search_space=nb101", "evaluator=tabular", "evaluator.table=nb101", "dataset=cifar10",
               "dataset.download=false", f"strategy={name}", "budget.trials=12", "plots=false")
    first, again = tmp_path / "first", tmp_path / "again"
    result = run(*command, run_dir=first)
    if name == "sh":  # a multi-fidelity strategy needs an evaluator that trains at a fidelity
        assert result.code == 2 and "needs an evaluator that can (evaluator=train)" in result.text
        return
    assert result.code == 0, result.text
    assert run(*command, run_dir=again).code == 0
    assert read_trials(first) == read_trials(again) and len(read_trials(first)) == 12
    genotype = read_json(first / "genotype.json")
    assert genotype["search_space"] == "nb101" and set(genotype["arch"]) == {"matrix", "ops"}
    assert not (tmp_path / "data").exists()

