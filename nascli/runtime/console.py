"""What users see while they wait and when it is done: progress bars with ETA and result tables.

One look for every command: domain code reports through callbacks and returns rows; only the
engine and the commands draw. On a terminal a table fits its width, folding long values; in a
file or pipe (output()), a table is as wide as its values, never cut at 80 columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import get_console
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


def progress(console: Console) -> Progress:
    """A bar with count, a free-text `info` field, elapsed time and ETA (total None: no ETA)."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
    )


def cell(value: Any, digits: int = 3) -> str:
    """A table cell: floats to `digits` decimals (tiny ones in `digits` significant figures), None
    empty, anything else as text."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}" if 0 < abs(value) < 10**-digits else f"{value:.{digits}f}"
    return str(value)


UNBOUNDED = 1 << 20  # the width a table is measured in, to find how wide its values make it


def output() -> Console:
    """The console a command prints its results to. On a terminal, rich's own (the terminal's width;
    log lines and progress bars share it); redirected to a file or pipe, one that prints each line
    whole (soft wrap: no wrapping, no cropping), where rich would cut every line at 80 columns."""
    console = get_console()
    return console if console.is_terminal else Console(soft_wrap=True)


class ResultTable(Table):
    """A rich Table laid out at its natural width on a console that prints lines whole (output() in
    a file or pipe), and in the console's width on any other (a terminal)."""

    def _unbounded(self, console: Console, options: ConsoleOptions) -> ConsoleOptions:
        """`options` with the width the table's values ask for, where the console will not cut lines."""
        if not console.soft_wrap or console.is_terminal:
            return options
        return options.update_width(super().__rich_measure__(console, options.update_width(UNBOUNDED)).maximum)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return super().__rich_measure__(console, self._unbounded(console, options))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from super().__rich_console__(console, self._unbounded(console, options))


def table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str], digits: int = 3) -> Table:
    """A right-aligned table of `rows` restricted to `columns`: whole values in a file or pipe, and on a
    terminal too narrow for them, values folded onto more lines, never cut short ("rein…")."""
    out = ResultTable(title=title)
    for column in columns:
        out.add_column(column, justify="right", overflow="fold")
    for row in rows:
        out.add_row(*[escape(cell(row.get(c), digits)) for c in columns])
    return out


def print_error(command: str, message: str, console: Console | None = None) -> None:
    """A red panel on a terminal; plain unwrapped lines in logs and pipes (paths stay greppable)."""
    console = console or Console(stderr=True)
    if console.is_terminal:
        console.print(Panel(message, title=f"nas {command}: error", border_style="red", expand=False))
    else:
        console.print(f"nas {command}: error: {message}", soft_wrap=True, markup=False, highlight=False)
