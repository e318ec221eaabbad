"""report.json / report.md: required fields, and markdown tables that survive arch strings."""

from __future__ import annotations

import json
from pathlib import Path

from nascli.runtime.run_report import RunReport, markdown_table


def test_report_has_the_contract_fields(tmp_path: Path) -> None:
    report = RunReport(tmp_path, "search", ["seed=1"])
    report.results["trials"] = 3
    report.write()
    data = json.loads((tmp_path / "report.json").read_text())
    assert {"command", "status", "started", "finished", "versions", "trials"} <= set(data)
    assert data["status"] == "running" and data["versions"]["nascli"]
    assert "`nas search seed=1`" in (tmp_path / "report.md").read_text()


def test_markdown_cells_escape_pipes_so_arch_strings_stay_in_one_cell() -> None:
    table = markdown_table([{"arch_str": "|nor_conv_3x3~0|+|none~0|", "acc": 91.234}], ["arch_str", "acc"])
    row = table.splitlines()[-1]
    assert row.count(" | ") == 1 and "91.23" in row
