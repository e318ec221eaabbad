"""`nas search search.workers=2`: two local worker processes score the candidates a one-worker
search scores, with the same numbers (a candidate's result depends only on it and the seed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from nasrun import read_json, read_trials, run


@pytest.mark.slow  # two worker processes import torch and train (~10 s on 2 busy cores)
def test_two_local_workers_score_what_one_scores(smoke_search: Path, tmp_path: Path) -> None:
    result = run("search", "debug=smoke", "search.workers=2", run_dir=tmp_path / "two")
    assert result.code == 0, result.text
    one, two = read_trials(smoke_search), read_trials(tmp_path / "two")
    assert len(two) == len(one) == 3 and len({r["arch_str"] for r in two}) == 3  # none evaluated twice
    # random proposes the same candidates whatever the order results come back in
    assert {r["arch_str"]: r["val_accuracy"] for r in two} == {r["arch_str"]: r["val_accuracy"] for r in one}
    assert {r["worker"] for r in two} <= {"0", "1"} and sorted(r["proposed"] for r in two) == ["0", "1", "2"]
    finished = [float(r["finished_s"]) for r in two]
    assert finished == sorted(finished) and all(float(r["started_s"]) < float(r["finished_s"]) for r in two)
    assert "worker" not in one[0]  # one worker: the rows of before
    assert read_json(tmp_path / "two" / "report.json")["workers"] == {"workers": 2, "executor": "local"}
