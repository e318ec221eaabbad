"""The layering contract (pyproject.toml [tool.importlinter]): it holds for the package, and it
fails when a cycle, an upward import or a command-to-command import is injected into a copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nasrun import REPO

import nascli

LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
        "--no-cache", "--no-logo"]


def lint(root: Path) -> subprocess.CompletedProcess:
    """lint-imports with the project's contracts, on the `nascli` found first on PYTHONPATH=root."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([*LINT, str(REPO / "pyproject.toml")], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_package_keeps_every_contract() -> None:
    result = lint(Path(nascli.__file__).parents[1])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("strategies/genes.py", "from nascli.strategies import random", "No import cycle"),  # random -> genes -> random
    ("spaces/base.py", "import nascli.search.engine", "Imports point down the layers"),
    ("evaluators/train.py", "import nascli.strategies.random", "Imports point down the layers"),  # siblings stay apart
    ("commands/export.py", "from nascli.commands import evaluate", "No command imports another"),
], ids=["cycle", "upward", "strategy-evaluator", "command-command"])
def test_an_injected_violation_breaks_the_contract(tmp_path: Path, module: str, line: str, broken: str) -> None:
    copy = tmp_path / "nascli"
    shutil.copytree(Path(nascli.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + f"\n\ndef _injected():\n    {line}\n")  # function-level imports count
    result = lint(tmp_path)
    assert result.returncode == 1, result.stdout
    assert broken in result.stdout and "BROKEN" in result.stdout
