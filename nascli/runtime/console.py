"""What users see while they wait and when it is done: progress bars with ETA and result tables.

One look for every command: domain code reports through callbacks and returns rows; only the
engine and the commands draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
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


def table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str], digits: int = 3) -> Table:
    """A right-aligned rich table of `rows` restricted to `columns`."""
    out = Table(title=title)
    for column in columns:
        out.add_column(column, justify="right")
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
