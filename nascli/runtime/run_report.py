"""A run's own report.json / report.md: what a command did, with which versions, and its results
(`nas report`, in nascli.reports, reads and compares them across runs)."""

from __future__ import annotations

import datetime as dt
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nascli import __version__
from nascli.runtime.files import write_json, write_text


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """Versions of nascli, torch, torchvision and Python (read from metadata: nothing is imported)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"nascli": __version__, "python": platform.python_version()}
    for package in ("torch", "torchvision"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


@dataclass
class RunReport:
    """The run's report, rewritten (atomically) whenever it changes."""

    run_dir: Path
    command: str
    argv: list[str]
    status: str = "running"
    started: str = field(default_factory=now_iso)
    finished: str | None = None
    error: str | None = None
    results: dict[str, Any] = field(default_factory=dict)
    sections: list[tuple[str, str]] = field(default_factory=list)  # (title, markdown) for report.md

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "argv": self.argv,
            "status": self.status,
            "started": self.started,
            "finished": self.finished,
            "versions": versions(),
            "run_dir": str(self.run_dir),
            "error": self.error,
            **self.results,
        }

    def write(self) -> None:
        write_json(self.run_dir / "report.json", self.to_dict())
        write_text(self.run_dir / "report.md", self.markdown())

    def markdown(self) -> str:
        lines = [
            f"# nas {self.command}",
            "",
            f"- status: **{self.status}**",
            f"- started: {self.started}",
            f"- finished: {self.finished or '-'}",
            f"- command: `{' '.join(['nas', self.command, *self.argv])}`",
            f"- versions: {', '.join(f'{k} {v}' for k, v in versions().items())}",
        ]
        if self.error:
            lines += ["", "## Error", "", "```", self.error, "```"]
        for title, body in self.sections:
            lines += ["", f"## {title}", "", body.rstrip()]
        return "\n".join(lines) + "\n"


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A GitHub-flavoured markdown table of `rows` restricted to `columns`."""
    def cell(v: Any) -> str:
        text = f"{v:.4g}" if isinstance(v, float) else str(v)
        return text.replace("|", "\\|")  # arch strings are full of pipes

    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns)
    body = ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join([head, *body])
