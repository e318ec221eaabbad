"""`nas latency-table`: builds and checks a table on this CPU at the shape of the `dataset` group, as
`nas search` takes it, so that the README's pair (build a table, then search with it) works as typed;
a table built for another dataset is refused by name, with how to build the right one."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from configured import space
from nasrun import read_json, read_trials, run

from nascli.hardware.latency_table import LatencyTable

NB201 = space("nb201", channels=4)  # debug=smoke's size of the space (conf/debug/search_space/smoke_nb201.yaml)


@pytest.fixture(scope="module")
def digits_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's `nas latency-table search_space=nb201 hardware=cpu --check 30`, smoke-sized (debug=smoke
    on both commands of the pair keeps the same search_space.* size) with 3 checked networks."""
    run_dir = tmp_path_factory.mktemp("lt") / "digits"
    result = run("latency-table", "search_space=nb201", "hardware=cpu", "check=3", "debug=smoke", run_dir=run_dir)
    assert result.code == 0, result.text
    return run_dir


def test_the_table_is_built_and_checked_at_the_default_datasets_shape(digits_table: Path) -> None:
    report = read_json(digits_table / "report.json")
    assert report["dataset"] == "digits" and report["shape"] == [10, 1, 8]  # what `nas search` searches by default
    assert report["check"]["networks"] == 3 and report["check"]["mape_pct"] >= 0
    assert report["hardware"]["target"] == "cpu" and report["hardware"]["device"].startswith("cpu")
    loaded = LatencyTable.load(digits_table / "latency_table.csv")
    assert loaded.meta["device"].startswith("cpu") and loaded.meta["torch"] and int(loaded.meta["threads"]) >= 1
    assert loaded.built_for() == "the nb201 space at 1x8x8 inputs and 10 classes"
    assert loaded.estimate(NB201, NB201.sample(random.Random(0)), (10, 1, 8)) > 0  # a table built here drives a search
    assert len((digits_table / "check.csv").read_text().splitlines()) == 4  # header and the 3 networks


def test_the_readme_pair_searches_with_the_table_it_built(digits_table: Path, tmp_path: Path) -> None:
    """`nas search hardware=lut hardware.table=<that table> hardware.max_latency_ms=...` as the README
    types it (smoke-sized, two candidates; a limit, so the table is read before anything trains)."""
    table = digits_table / "latency_table.csv"
    result = run("search", "hardware=lut", f"hardware.table={table}", "hardware.max_latency_ms=1000",
                 "debug=smoke", "budget.trials=2", run_dir=tmp_path / "search")
    assert result.code == 0, result.text
    rows = read_trials(tmp_path / "search")
    loaded = LatencyTable.load(table)
    assert len(rows) == 2 and all(row["status"] == "completed" for row in rows)
    for row in rows:  # each candidate's latency is the table's estimate at the searched data's shape
        assert float(row["latency_ms"]) == pytest.approx(loaded.estimate(NB201, NB201.from_str(row["arch_str"]),
                                                                         (10, 1, 8)))
    assert read_json(tmp_path / "search" / "report.json")["hardware"]["table"] == str(table)


def test_a_table_of_another_dataset_is_refused_saying_how_to_build_the_right_one(tmp_path: Path) -> None:
    """dataset=cifar10 states its shape without its images (none can be downloaded here): the table is
    built at 3x32x32, and a search on digits refuses it before training anything."""
    built = run("latency-table", "dataset=cifar10", "debug=smoke", "calibration=1", run_dir=tmp_path / "cifar10")
    assert built.code == 0, built.text
    assert read_json(tmp_path / "cifar10" / "report.json")["shape"] == [10, 3, 32]
    assert not (tmp_path / "data").exists()  # no dataset was read or downloaded
    table = tmp_path / "cifar10" / "latency_table.csv"
    refused = run("search", "hardware=lut", f"hardware.table={table}", "hardware.max_latency_ms=1000", "debug=smoke",
                  run_dir=tmp_path / "search")
    assert refused.code == 2
    assert ("at 1x8x8 inputs and 10 classes" in refused.err
            and "It was built for the nb201 space at 3x32x32 inputs and 10 classes" in refused.err
            and "nas latency-table search_space=nb201 dataset=<this search's dataset>" in refused.err), refused.err
    assert not (tmp_path / "search" / "trials.csv").exists()
