"""Atomic writes: the old file survives a failed write, and no temporary file is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from nascli.runtime.files import write_csv, write_json, write_text


def test_a_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    write_json(target, {"status": "completed"})

    class Boom:
        def __str__(self) -> str:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_json(target, {"bad": Boom()})
    assert target.read_text().strip().startswith("{") and "completed" in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_csv_writes_empty_cells_for_missing_values(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [{"a": 1, "b": None}, {"a": 2}], ["a", "b"])
    assert path.read_text() == "a,b\n1,\n2,\n"


def test_parent_directories_are_created(tmp_path: Path) -> None:
    assert write_text(tmp_path / "x" / "y" / "z.txt", "hi").read_text() == "hi"
