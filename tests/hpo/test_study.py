"""The study's direction against what a job says its objective is: a perplexity maximised is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nascli.errors import ConfigError
from nascli.hpo.study import check_direction, reported_direction
from nascli.runtime import metrics


def job(tmp_path: Path, metric: str | None) -> str:
    """A job directory whose report.json records `metric` as its objective (nothing when None)."""
    results = {"objective_metric": metrics.metric(metric).describe()} if metric else {}
    (tmp_path / "report.json").write_text(json.dumps({"command": "search", "status": "completed", **results}))
    return str(tmp_path)


def test_a_job_reports_its_objectives_direction(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert reported_direction(job(tmp_path / "a", "val_perplexity")) == \
        ("val_perplexity", "minimize")
    assert reported_direction(job(tmp_path, "val_accuracy")) == ("val_accuracy", "maximize")
    assert reported_direction(str(tmp_path / "missing")) is None


def test_a_study_in_the_wrong_direction_is_refused_with_what_to_set(tmp_path: Path) -> None:
    perplexity = job(tmp_path, "val_perplexity")
    check_direction("minimize", perplexity)
    with pytest.raises(ConfigError, match="objective is val_perplexity, which is lower is better, but "
                                          "hydra.sweeper.direction=maximize.*Set hydra.sweeper.direction=minimize"):
        check_direction("maximize", perplexity)
    check_direction("maximize", job(tmp_path, None))  # a command that records nothing: unchecked, as before
