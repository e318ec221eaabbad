"""summary.md and report.html: the comparison for people. The HTML page is one self-contained file
(inline style, pictures embedded as base64 PNG), so it opens from disk or a mail with no server."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

from nascli.runtime.run_report import markdown_table

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f2f4f7; } td.text { text-align: left; }
tr.best td { background: #e6f4ea; font-weight: 600; }
tr.bad td { background: #fdecea; }
.best-box { background: #e6f4ea; border-left: 4px solid #34a853; padding: 0.5rem 1rem; }
code { background: #f5f5f5; padding: 0 0.2rem; }
img { max-width: 100%; border: 1px solid #eee; }
"""


TEXT = ' class="text"'


def _cell(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def html_table(rows: list[dict[str, Any]], columns: list[str], row_class: Any = None) -> str:
    """An escaped HTML table; text cells left-aligned; `row_class(row)` gives a row's CSS class."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cls = row_class(row) if row_class else ""
        cells = "".join(f"<td{TEXT if isinstance(row.get(c), str) else ''}>{html.escape(_cell(row.get(c)))}</td>"
                        for c in columns)
        body.append(f"<tr{f' class={cls!r}' if cls else ''}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def image(path: Path, alt: str) -> str:
    """An <img> with the PNG inlined as a data URI."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _one_line(value: Any) -> Any:
    """A markdown table cell: no value as empty, a message's line breaks as spaces (a break ends a row)."""
    if value is None:
        return ""
    return " ".join(value.split()) if isinstance(value, str) and "\n" in value else value


def markdown(title: str, best: str, summary_rows: list[dict[str, Any]], summary_columns: list[str],
             run_rows: list[dict[str, Any]], run_columns: list[str], problems: list[dict[str, Any]],
             pictures: list[Path], notes: list[str]) -> str:
    """summary.md: the best configuration, the summary over seeds, every run, the runs that did not
    complete, the pictures, and why any picture is missing (`notes`)."""
    blank = lambda rows: [{k: _one_line(v) for k, v in row.items()} for row in rows]  # noqa: E731
    parts = [f"# {title}", "", best, "", "## Per configuration (mean ± std over seeds)", "",
             markdown_table(blank(summary_rows), summary_columns), "", "## Every run", "",
             markdown_table(blank(run_rows), run_columns)]
    if problems:
        parts += ["", "## Runs that did not complete", "",
                  markdown_table(blank(problems), ["run", "status", "reason"])]
    for picture in pictures:
        parts += ["", f"![{picture.stem}]({picture.name})"]
    if notes:
        parts += ["", *(f"- {note}" for note in notes)]
    return "\n".join(parts) + "\n"


def page(title: str, sources: list[str], best: str, summary_rows: list[dict[str, Any]], summary_columns: list[str],
         run_rows: list[dict[str, Any]], run_columns: list[str], problems: list[dict[str, Any]],
         pictures: list[Path], notes: list[str]) -> str:
    """report.html: the same content as summary.md, with the plots embedded."""
    listed = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in sources)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>", f"<p>From:</p><ul>{listed}</ul>",
        f'<p class="best-box">{html.escape(best)}</p>',
        "<h2>Per configuration (mean ± std over seeds)</h2>",
        html_table(summary_rows, summary_columns, lambda r: "best" if r.get("best") else ""),
    ]
    if pictures or notes:
        parts.append("<h2>Plots</h2>")
        parts += [f"<p>{image(p, p.stem)}</p>" for p in pictures]
        parts += [f"<p>{html.escape(note)}</p>" for note in notes]
    parts += ["<h2>Every run</h2>",
              html_table(run_rows, run_columns, lambda r: "" if r.get("status") == "completed" else "bad")]
    if problems:
        parts += ["<h2>Runs that did not complete</h2>", html_table(problems, ["run", "status", "reason"],
                                                                    lambda r: "bad")]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
