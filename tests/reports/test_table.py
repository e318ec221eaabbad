"""The comparison tables from runs: which overrides differ, mean ± std over seeds per configuration,
the best one (highest, or lowest with --minimize), and how configurations are named."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest

from nascli.errors import NasError
from nascli.reports.runs import Run, parse_overrides
from nascli.reports.table import (config_label, display_runs, lower_is_better, primary_metric, records, runs_frame,
                                  short, summarize)


def make(name: str, status: str = "completed", command: str = "search", **metrics: float) -> Run:
    """A run named `<strategy>-<seed>`, e.g. `random-0`, with the given metrics."""
    strategy, seed = name.split("-")
    return Run(path=Path(name), name=name, sweep=None, command=command, status=status,
               overrides=parse_overrides(["debug=smoke", f"seed={seed}", f"strategy={strategy}"]), metrics=metrics)


def test_overrides_that_differ_become_the_columns_and_seed_is_averaged_over() -> None:
    runs = [make("random-0", objective=10.0, latency_ms=2.0), make("random-1", objective=14.0, latency_ms=4.0),
            make("bo-0", objective=13.0, latency_ms=1.0), make("bo-1", "failed")]
    frame = runs_frame(runs)
    assert frame.attrs["keys"] == ["seed", "strategy"]  # debug=smoke is the same everywhere
    assert list(frame["status"]) == ["completed"] * 3 + ["failed"]  # the failed run stays
    summary = summarize(frame, primary_metric(frame, "auto"))
    assert summary.metric == "objective" and summary.config_keys == ["strategy"]
    rows = summary.table.set_index("strategy")
    assert rows.loc["random", "objective_mean"] == 12.0
    assert rows.loc["random", "objective_std"] == pytest.approx(statistics.stdev([10.0, 14.0]))
    assert (rows.loc["bo", "runs"], rows.loc["bo", "completed"]) == (2, 1)
    assert math.isnan(rows.loc["bo", "objective_std"])  # one completed run: no spread
    assert summary.best["strategy"] == "bo"  # 13 > 12
    lowest = summarize(frame, "latency_ms", maximize=False)
    assert lowest.best["strategy"] == "bo" and lowest.best["latency_ms_mean"] == 1.0


def test_runs_of_several_commands_are_told_apart_and_labels_are_short() -> None:
    runs = [make("random-0", objective=10.0), make("random-0", command="retrain", test_accuracy=90.0)]
    frame = runs_frame(runs)
    assert frame.attrs["keys"] == ["command"]
    assert len(summarize(frame, "test_accuracy").table) == 2
    assert config_label({"command": "retrain", "trainer.lr": "0.039942282787262744", "init": ""},
                        ["command", "trainer.lr", "init"]) == "command=retrain trainer.lr=0.03994"
    assert short("nb201") == "nb201" and short("1e-05") == "1e-05" and short("3") == "3"


def test_each_metric_ranks_in_its_direction_and_objectives_of_other_metrics_are_kept_apart() -> None:
    perplexity = [make("random-0", objective=80.0, latency_ms=2.0), make("bo-0", objective=60.0, latency_ms=3.0)]
    for run in perplexity:
        run.objective_metric = "val_perplexity"
    frame = runs_frame(perplexity)
    assert lower_is_better(frame, "objective") and lower_is_better(frame, "latency_ms")
    best = summarize(frame, "objective", maximize=not lower_is_better(frame, "objective")).best
    assert best["strategy"] == "bo" and best["objective_mean"] == 60.0  # the lowest perplexity
    mixed = runs_frame([*perplexity, make("evolution-0", objective=93.0)])  # an accuracy search beside them
    assert "objective" not in mixed.attrs["metrics"]
    assert mixed.attrs["metrics"][:2] == ["objective (val_perplexity)", "objective (val_accuracy)"]
    assert primary_metric(mixed, "auto") == "objective (val_perplexity)" and lower_is_better(mixed, "objective (val_perplexity)")
    assert not lower_is_better(mixed, "objective (val_accuracy)")
    assert mixed["objective (val_accuracy)"].tolist()[2] == 93.0 and math.isnan(mixed["objective (val_accuracy)"][0])


def test_a_metric_no_run_reports_is_a_clear_error() -> None:
    frame = runs_frame([make("random-0", objective=1.0)])
    with pytest.raises(NasError, match="--metric test_accuracy: no run reports it; choose one of: objective"):
        primary_metric(frame, "test_accuracy")
    assert primary_metric(runs_frame([make("random-0", "failed")]), "auto") is None  # listed, nothing ranked


def test_runs_that_did_not_complete_are_rows_with_empty_cells() -> None:
    """The issue's traceback: only failed runs, so no run has a trial count (int(None) in display_runs)."""
    runs = [make("random-0", "failed"), make("random-1", "interrupted")]
    runs[1].trials = 2  # the trials an interrupted search wrote
    frame = runs_frame(runs)
    assert [(r["run"], r["status"], r["trials"], r["wall_s"]) for r in display_runs(frame)] == [
        ("random-0", "failed", None, None), ("random-1", "interrupted", 2, None)]
    assert [r["trials"] for r in records(frame)] == [None, 2]  # runs.csv: an empty cell and 2, not nan and 2.0
    summary = summarize(frame, primary_metric(frame, "auto"))
    assert summary.best is None and summary.table[["runs", "completed"]].values.tolist() == [[2, 0]]


def test_the_configuration_that_sets_none_of_the_keys_is_named_as_the_default() -> None:
    assert config_label({"strategy": ""}, ["strategy"]) == "(default strategy)"
    assert config_label({"strategy": "", "seed": ""}, ["strategy", "seed"]) == "(default strategy, seed)"
    assert config_label({}, []) == "all runs"


def test_an_override_named_like_a_column_has_a_column_of_its_own() -> None:
    runs = [make("random-0", "failed"), make("random-1", "failed")]
    runs[0].overrides["status"] = "x"  # `nas search +status=x`: refused, but its argv is in the report
    frame = runs_frame(runs)
    assert frame.attrs["keys"] == ["seed", "status (override)"]
    assert list(frame["status"]) == ["failed", "failed"] and list(frame["status (override)"]) == ["x", ""]
