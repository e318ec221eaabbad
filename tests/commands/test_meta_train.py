"""`nas meta-train` on a benchmark table, and `nas search meta=<run>` starting from its prior."""

from __future__ import annotations

from pathlib import Path

import pytest
from nasrun import BENCHMARKS, nas, read_json

TABLE = BENCHMARKS / "nb201_subset.csv"
pytestmark = pytest.mark.skipif(not TABLE.exists(), reason="shared benchmarks not present")


@pytest.fixture(scope="module")
def meta_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("meta")
    result = nas("meta-train", "tasks=table", f"tasks.table={TABLE}", "tasks.include=[cifar10]", "method.epochs=100",
                 f"hydra.run.dir={cwd / 'meta'}", cwd=cwd)
    assert result.code == 0, result.text
    return cwd / "meta"


def test_meta_train_writes_the_prior_report_and_plot(meta_run: Path) -> None:
    for name in ("prior.pt", "prior.json", "report.json", "report.md", "meta_training.png"):
        assert (meta_run / name).is_file(), name
    report = read_json(meta_run / "report.json")
    assert report["status"] == "completed" and report["method"] == "transfer"
    assert [t["task"] for t in report["tasks"]] == ["cifar10"] and report["tasks"][0]["rows"] > 100
    assert report["tasks"][0]["heldout_spearman"] > 0.6


def test_search_starts_from_the_prior_and_says_so(meta_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "search"
    result = nas("search", "debug=smoke", f"meta={meta_run}", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.code == 0, result.text
    meta = read_json(run_dir / "report.json")["meta"]
    assert meta["method"] == "transfer" and meta["learned_from"] == ["cifar10"] and meta["target_task"] == "digits"


def test_darts_starts_from_a_transfer_prior(meta_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "darts"
    result = nas("search", "strategy=darts", "debug=smoke", "oneshot.epochs=1", f"meta={meta_run}",
                 f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.code == 0, result.text
    assert read_json(run_dir / "report.json")["meta"]["method"] == "transfer"


def test_a_prior_of_another_space_is_a_clear_error(meta_run: Path, tmp_path: Path) -> None:
    result = nas("search", "debug=smoke", "search_space=darts", f"meta={meta_run}", f"hydra.run.dir={tmp_path / 's'}", cwd=tmp_path)
    assert result.code == 2 and "learned on the nb201 space, but this search uses darts" in result.err
    assert "Traceback" not in result.text


def test_meta_train_input_mistakes(tmp_path: Path) -> None:
    missing = nas("meta-train", f"hydra.run.dir={tmp_path / 'a'}", cwd=tmp_path)
    assert missing.code == 2 and "tasks.table" in missing.err
    task = nas("meta-train", f"tasks.table={TABLE}", "tasks.include=[imagenet]", f"hydra.run.dir={tmp_path / 'b'}", cwd=tmp_path)
    assert task.code == 2 and "has no task imagenet" in task.err and "cifar10, cifar100" in task.err
    meta = nas("search", "debug=smoke", f"meta={tmp_path}", f"hydra.run.dir={tmp_path / 'c'}", cwd=tmp_path)
    assert meta.code == 2 and "holding prior.json and prior.pt" in meta.err


def test_reptile_smoke_run_writes_a_supernet_prior(tmp_path: Path) -> None:
    run_dir = tmp_path / "reptile"
    result = nas("meta-train", "method=reptile", "tasks=subsets", "debug=smoke", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.code == 0, result.text
    prior = read_json(run_dir / "prior.json")
    assert prior["method"] == "reptile" and prior["supernet"]["num_classes"] == 3
    assert prior["supernet"]["channels"] == 8 and (run_dir / "meta_training.png").is_file()
    report = read_json(run_dir / "report.json")
    assert report["status"] == "completed" and 0 <= report["final_adapted_accuracy"] <= 100

    # search held-out classes from the meta-learned supernet
    search = nas("search", "strategy=darts", "debug=smoke", "oneshot.epochs=1", f"meta={run_dir}", "dataset.classes=[7,8,9]",
                 f"hydra.run.dir={tmp_path / 'search'}", cwd=tmp_path)
    assert search.code == 0, search.text
    meta = read_json(tmp_path / "search" / "report.json")["meta"]
    assert meta["method"] == "reptile" and meta["target_task"].startswith("digits")
    # a task of another shape cannot use it
    wrong = nas("search", "strategy=darts", "debug=smoke", f"meta={run_dir}", f"hydra.run.dir={tmp_path / 'wrong'}",
                cwd=tmp_path)
    assert wrong.code == 2 and "classifies 3 classes" in wrong.err and "Traceback" not in wrong.text


def test_reptile_needs_class_subset_tasks(tmp_path: Path) -> None:
    result = nas("meta-train", "method=reptile", f"tasks.table={TABLE}", f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path)
    assert result.code == 2 and "tasks=subsets" in result.err


def test_meta_train_from_past_search_runs(smoke_search: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "from-runs"
    result = nas("meta-train", "tasks=runs", f"tasks.runs=['{smoke_search}']", "method.epochs=20",
                 f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.code == 0, result.text
    prior = read_json(run_dir / "prior.json")
    assert [t["name"] for t in prior["tasks"]] == ["digits"] and prior["tasks"][0]["rows"] == 3
    wrong = nas("meta-train", "tasks=runs", f"tasks.runs=['{tmp_path}']", f"hydra.run.dir={tmp_path / 'w'}", cwd=tmp_path)
    assert wrong.code == 2 and "is not a search run directory" in wrong.err
