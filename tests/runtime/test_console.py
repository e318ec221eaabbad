"""Result tables, the one look of every command's results: in a file or pipe as wide as their values
(rich would cut every line at 80 columns: "rein…"), on a terminal the terminal's width, long values
folded onto more lines, never cut."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from nasrun import nas
from rich.console import Console

from nascli.commands.list import main as list_main
from nascli.runtime.console import output, table

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_3x3~2|"
ROWS = [{"trial": 0, "strategy": "reinforce", "arch_str": ARCH, "objective": 15.599}]
COLUMNS = ["trial", "strategy", "arch_str", "objective"]


def cells(text: str, column: int) -> list[str]:
    """The stripped cells of one column, body rows only."""
    return [line.split("│")[column + 1].strip() for line in text.splitlines() if line.startswith("│")]


def test_in_a_file_or_pipe_a_table_is_as_wide_as_its_values(capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")  # the width rich takes for a file or pipe otherwise (80 without it)
    output().print(table("top trials", ROWS, COLUMNS))
    out = capsys.readouterr().out
    assert "…" not in out and cells(out, 1) == ["reinforce"] and cells(out, 2) == [ARCH]
    assert len(out.splitlines()) == 6  # title, top rule, header, rule, one row, bottom rule: nothing wrapped


def test_on_a_terminal_a_table_takes_its_width_and_folds_what_does_not_fit() -> None:
    for width in (120, 60):
        buffer = io.StringIO()
        Console(file=buffer, force_terminal=True, color_system=None, width=width).print(table("t", ROWS, COLUMNS))
        lines = buffer.getvalue().splitlines()
        assert "…" not in buffer.getvalue() and max(map(len, lines)) <= width
        assert "".join(cells(buffer.getvalue(), 2)) == ARCH  # folded, whole
        assert "".join(cells(buffer.getvalue(), 1)) == "reinforce"
    assert max(map(len, lines)) > 40  # the terminal's width is used, not a fixed one


def test_nas_list_prints_whole_rows_into_a_pipe(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    assert list_main(["strategy"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("│")]
    assert any(line.split("│")[1].strip() == "reinforce" for line in rows)  # one line per strategy
    assert "…" not in "".join(rows) and max(map(len, rows)) > 60


@pytest.mark.slow
def test_a_search_prints_its_top_trials_whole_into_a_pipe(tmp_path: Path) -> None:
    """The commands' results go to output() (nascli.runner): the top trials' table keeps its
    header and numbers whole with a narrow COLUMNS."""
    result = nas("search", "debug=smoke", "plots=false", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path,
                 env={"COLUMNS": "50"})
    assert result.code == 0, result.text
    top = result.out[result.out.index("Top 3 of 3 trials"):result.out.index("result (trial")]
    (header,) = [line for line in top.splitlines() if line.startswith("┃")]
    assert [cell.strip() for cell in header.split("┃")[1:4]] == ["trial", "objective", "val_accuracy"]
    assert sorted(int(cell) for cell in cells(top, 0)) == [0, 1, 2] and all(float(c) for c in cells(top, 1))
    assert "…" not in top and max(map(len, top.splitlines())) > 50
