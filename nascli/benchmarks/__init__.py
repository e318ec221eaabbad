"""Benchmark tables shipped with nascli (see README.md here for their sources and licences)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from nascli.errors import NasError


def shipped() -> list[str]:
    """Names of the tables that ship with the package."""
    return sorted(p.name[:-4] for p in importlib.resources.files(__name__).iterdir() if p.name.endswith(".csv"))


def table_path(ref: str) -> Path:
    """The file of a benchmark table: a shipped one by name (`nb201`), or a path of the user's."""
    if ref in shipped():
        return Path(str(importlib.resources.files(__name__).joinpath(f"{ref}.csv")))
    path = Path(ref).expanduser()
    if not path.exists():
        raise NasError(f"The benchmark table {ref} does not exist: give a path, or the name of a table "
                       f"that ships with nascli ({', '.join(shipped())}).")
    return path
