"""`nas meta-train` on the shipped benchmark table and on class subsets, and `nas search meta=<run>`
starting from its prior."""

from __future__ import annotations

from pathlib import Path

import pytest
from imagetrees import class_tree
from nasrun import read_json, run


@pytest.fixture(scope="module")
def meta_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("meta") / "meta"
    result = run("meta-train", "tasks=table", "tasks.table=nb201", "tasks.include=[cifar10]", "method.epochs=100",
                 run_dir=run_dir)
    assert result.code == 0, result.text
    assert result.objective == pytest.approx(read_json(run_dir / "report.json")["tasks"][0]["heldout_spearman"])
    return run_dir


def test_meta_train_writes_the_prior_report_and_plot(meta_run: Path) -> None:
    for name in ("prior.pt", "prior.json", "report.json", "report.md", "meta_training.png"):
        assert (meta_run / name).is_file(), name
    report = read_json(meta_run / "report.json")
    assert report["status"] == "completed" and report["method"] == "transfer"
    assert [t["task"] for t in report["tasks"]] == ["cifar10"] and report["tasks"][0]["rows"] > 100
    assert report["tasks"][0]["heldout_spearman"] > 0.6


def test_search_starts_from_the_prior_and_says_so(meta_run: Path, tmp_path: Path) -> None:
    result = run("search", "debug=smoke", f"meta={meta_run}", run_dir=tmp_path / "search")
    assert result.code == 0, result.text
    meta = read_json(tmp_path / "search" / "report.json")["meta"]
    assert meta["method"] == "transfer" and meta["learned_from"] == ["cifar10"] and meta["target_task"] == "digits"


@pytest.mark.slow
def test_darts_starts_from_a_transfer_prior(meta_run: Path, tmp_path: Path) -> None:
    result = run("search", "strategy=darts", "debug=smoke", f"meta={meta_run}",
                 run_dir=tmp_path / "darts")
    assert result.code == 0, result.text
    assert read_json(tmp_path / "darts" / "report.json")["meta"]["method"] == "transfer"


@pytest.mark.parametrize("mode", [["dataset.memory_limit_gb=0.00001"], ["dataset.decode=files", "dataset.workers=0"]])
def test_a_search_on_the_users_folder_starts_from_a_prior_describing_it(meta_run: Path, tmp_path: Path,
                                                                         mode: list[str]) -> None:
    """`nas search dataset=folder ... meta=<prior>` on a class subset of a folder too large for memory
    (streamed from its cache, or decoded from the files): the target task is the user's data."""
    root = class_tree(tmp_path / "photos", {"ant": 10, "bee": 10, "cat": 10})
    data = ["dataset=folder", f"dataset.root={root}", f"paths.cache_dir={tmp_path / 'cache'}", "dataset.classes=[0,2]"]
    result = run("search", "debug=smoke", "budget.trials=2", *data, *mode, f"meta={meta_run}", run_dir=tmp_path / "s")
    assert result.code == 0, result.text
    report = read_json(tmp_path / "s" / "report.json")
    assert report["meta"]["target_task"] == "folder" and report["meta"]["learned_from"] == ["cifar10"]


def test_a_prior_of_another_space_is_a_clear_error(meta_run: Path, tmp_path: Path) -> None:
    result = run("search", "debug=smoke", "search_space=darts", f"meta={meta_run}", run_dir=tmp_path / "s")
    assert result.code == 2 and "learned on the nb201 space, but this search uses darts" in result.err


def test_meta_train_input_mistakes(tmp_path: Path) -> None:
    missing = run("meta-train", run_dir=tmp_path / "a")
    assert missing.code == 2 and "tasks.table" in missing.err
    task = run("meta-train", "tasks.table=nb201", "tasks.include=[imagenet]", run_dir=tmp_path / "b")
    assert task.code == 2 and "has no task imagenet" in task.err and "cifar10, cifar100" in task.err
    meta = run("search", "debug=smoke", f"meta={tmp_path}", run_dir=tmp_path / "c")
    assert meta.code == 2 and "holding prior.json and prior.pt" in meta.err
    table = run("meta-train", f"tasks.table={tmp_path / 'absent.csv'}", run_dir=tmp_path / "d")
    assert table.code == 2 and "does not exist" in table.err and "nb201" in table.err


@pytest.mark.slow
def test_reptile_smoke_run_writes_a_supernet_prior(tmp_path: Path) -> None:
    run_dir = tmp_path / "reptile"
    result = run("meta-train", "method=reptile", "tasks=subsets", "debug=smoke", run_dir=run_dir)
    assert result.code == 0, result.text
    prior = read_json(run_dir / "prior.json")
    assert prior["method"] == "reptile" and prior["supernet"]["num_classes"] == 3
    assert prior["supernet"]["space_config"] == {"channels": 4, "cells_per_stage": 5}  # debug=smoke's nb201 space
    assert (run_dir / "meta_training.png").is_file()
    report = read_json(run_dir / "report.json")
    assert report["status"] == "completed" and 0 <= report["final_adapted_accuracy"] <= 100
    assert result.objective == report["final_adapted_accuracy"]

    # search held-out classes from the meta-learned supernet
    search = run("search", "strategy=darts", "debug=smoke", f"meta={run_dir}",
                 "dataset.classes=[7,8,9]", run_dir=tmp_path / "search")
    assert search.code == 0, search.text
    meta = read_json(tmp_path / "search" / "report.json")["meta"]
    assert meta["method"] == "reptile" and meta["target_task"].startswith("digits")
    # a task of another shape cannot use it
    wrong = run("search", "strategy=darts", "debug=smoke", f"meta={run_dir}", run_dir=tmp_path / "wrong")
    assert wrong.code == 2 and "classifies 3 classes" in wrong.err
    resized = run("search", "strategy=darts", "debug=smoke", "search_space.channels=8", f"meta={run_dir}",
                  "dataset.classes=[7,8,9]", run_dir=tmp_path / "resized")
    assert resized.code == 2 and "search with search_space.channels=4" in resized.err, resized.text


def test_each_method_needs_its_kind_of_tasks(tmp_path: Path) -> None:
    reptile = run("meta-train", "method=reptile", "tasks.table=nb201", run_dir=tmp_path / "r")
    assert reptile.code == 2 and "tasks=subsets" in reptile.err
    transfer = run("meta-train", "method=transfer", "tasks=subsets", run_dir=tmp_path / "t")
    assert transfer.code == 2 and "tasks=table" in transfer.err


def test_meta_train_from_past_search_runs(smoke_search: Path, tmp_path: Path) -> None:
    result = run("meta-train", "tasks=runs", f"tasks.runs=['{smoke_search}']", "method.epochs=20",
                 run_dir=tmp_path / "from-runs")
    assert result.code == 0, result.text
    prior = read_json(tmp_path / "from-runs" / "prior.json")
    assert [t["name"] for t in prior["tasks"]] == ["digits"] and prior["tasks"][0]["rows"] == 3
    wrong = run("meta-train", "tasks=runs", f"tasks.runs=['{tmp_path}']", run_dir=tmp_path / "w")
    assert wrong.code == 2 and "is not a search run directory" in wrong.err
