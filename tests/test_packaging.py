"""Packaging: every subpackage is listed in pyproject.toml and the configs ship inside the package."""

from __future__ import annotations

import importlib.resources
import tomllib

from nasrun import REPO


def test_every_subpackage_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.relative_to(REPO).parent.parts) for p in (REPO / "nascli").rglob("__init__.py")}
    assert found <= listed, f"add to pyproject.toml packages: {sorted(found - listed)}"


def test_configs_are_readable_as_package_resources() -> None:
    conf = importlib.resources.files("nascli.conf")
    for name in ("search.yaml", "retrain.yaml", "evaluate.yaml", "export.yaml", "meta-train.yaml"):
        assert conf.joinpath(name).is_file(), name
    assert conf.joinpath("dataset").joinpath("digits.yaml").is_file()
