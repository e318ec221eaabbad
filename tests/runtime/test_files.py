"""Atomic writes: the old file survives a failed write, and no temporary file is left behind; a full
disk or an unwritable directory is a StorageError naming the path and the cause."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from nascli.errors import StorageError
from nascli.runtime import files
from nascli.runtime.files import torch_save, write_csv, write_json, write_streamed, write_text


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


def test_a_streamed_write_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    """Rows written piece by piece (nas predict's batches): the file appears at the end, and a writer that
    fails half-way leaves the earlier file and no temporary behind."""
    target = tmp_path / "predictions.csv"

    def rows(count: int, fail_after: int | None = None):
        def write(handle) -> None:
            for i in range(count):
                if i == fail_after:
                    raise KeyboardInterrupt
                handle.write(f"row {i}\n".encode())
                assert not target.exists() or target.read_text() == "row 0\nrow 1\n"  # the old one, whole
        return write

    write_streamed(target, rows(2))
    with pytest.raises(KeyboardInterrupt):
        write_streamed(target, rows(5, fail_after=3))
    assert target.read_text() == "row 0\nrow 1\n" and [p.name for p in tmp_path.iterdir()] == ["predictions.csv"]


def test_csv_writes_empty_cells_for_missing_values(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [{"a": 1, "b": None}, {"a": 2}], ["a", "b"])
    assert path.read_text() == "a,b\n1,\n2,\n"


def test_parent_directories_are_created(tmp_path: Path) -> None:
    assert write_text(tmp_path / "x" / "y" / "z.txt", "hi").read_text() == "hi"


def _fails_with(monkeypatch: pytest.MonkeyPatch, where: str, code: int) -> None:
    """Make the writers' os.fsync or tempfile.mkstemp fail as a full disk or a closed directory does."""
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(files.os if where == "fsync" else files.tempfile, where, fail)


def test_a_full_disk_is_a_storage_error_naming_the_path_and_keeps_the_old_file(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    target = write_json(tmp_path / "report.json", {"status": "running"})
    _fails_with(monkeypatch, "fsync", errno.ENOSPC)
    with pytest.raises(StorageError, match=rf"Cannot write {tmp_path}/report.json: No space left on device \[ENOSPC\]"
                                           r"\. Free some space") as caught:
        write_json(target, {"status": "completed"})
    assert caught.value.exit_code == 74
    assert "running" in target.read_text() and [p.name for p in tmp_path.iterdir()] == ["report.json"]
    with pytest.raises(StorageError, match="ENOSPC"):
        torch_save(tmp_path / "model.pt", {"w": [1.0]})  # checkpoints too


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS, errno.EDQUOT])
def test_an_unwritable_directory_is_a_storage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    _fails_with(monkeypatch, "mkstemp", code)
    with pytest.raises(StorageError, match=rf"Cannot write {tmp_path}/t.txt: .*\[{errno.errorcode[code]}\]"):
        write_text(tmp_path / "t.txt", "x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory anyway")
def test_a_read_only_directory_for_real(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(StorageError, match=r"Permission denied \[EACCES\].*fix its permissions"):
            write_text(tmp_path / "t.txt", "x")
    finally:
        tmp_path.chmod(0o700)


def test_written_files_get_an_ordinary_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_text(tmp_path / "report.md", "x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # readable by the group like Hydra's own files, not mkstemp's 0600


def test_json_keeps_short_lists_of_values_on_one_line(tmp_path: Path) -> None:
    """A cell's adjacency matrix reads as rows; anything nested or long is indented as json.dumps does."""
    record = {"arch": {"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]}, "layers": [{"k": 3}],
              "long": list(range(40)), "empty": [], "path": Path("/x")}
    text = (tmp_path / "g.json").read_text() if write_json(tmp_path / "g.json", record) else ""
    assert '      [0, 1],\n      [0, 0]\n' in text and '"ops": ["input", "output"]' in text
    assert '"layers": [\n    {\n      "k": 3\n    }\n  ]' in text and '"long": [\n    0,\n' in text
    assert json.loads(text) == {**record, "path": "/x"}
