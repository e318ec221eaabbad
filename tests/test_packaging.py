"""Packaging: setup.py discovers every package; the configs and the benchmark tables ship inside the
package."""

from __future__ import annotations

import runpy
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from nasrun import REPO


def test_setup_finds_every_package_and_config_group() -> None:
    packages = set(runpy.run_path(str(REPO / "setup.py"))["packages"]())  # (not __main__: setup() does not run)
    code = {".".join(p.relative_to(REPO).parent.parts) for p in (REPO / "nascli").rglob("__init__.py")}
    groups = {"nascli." + ".".join(p.relative_to(REPO).parts) for p in (REPO / "conf").rglob("*") if p.is_dir()}
    assert code <= packages and groups <= packages and "hydra_plugins.nascli_hpo" in packages


@pytest.mark.slow  # builds the wheel (~5 s)
def test_the_wheel_holds_every_module_and_config(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(REPO),
                    "-w", str(tmp_path)], check=True, capture_output=True, cwd=tmp_path)
    names = set(zipfile.ZipFile(next(tmp_path.glob("nascli-*.whl"))).namelist())
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "nascli").rglob("*.py")}
    configs = {"nascli/" + p.relative_to(REPO).as_posix() for p in (REPO / "conf").rglob("*.yaml")}
    assert modules - names == set() and configs - names == set()
    assert "nascli/benchmarks/nb201.csv" in names and "hydra_plugins/nascli_hpo/__init__.py" in names


def test_the_installed_package_ships_its_configs(tmp_path: Path) -> None:
    # run outside the checkout, so that the installed package is imported, not the source tree
    code = (
        "import importlib.resources as r; conf = r.files('nascli.conf'); "
        "names = ['search.yaml', 'retrain.yaml', 'evaluate.yaml', 'export.yaml', 'meta-train.yaml', 'dataset/digits.yaml',"
        " 'hydra/default.yaml', 'debug/strategy/smoke_pcdarts.yaml', 'trainer/darts_search.yaml', 'hydra/sweeper/optuna.yaml',"
        " 'hparams_search/retrain_digits.yaml', 'hparams_search/search_digits.yaml']; "
        "tables = r.files('nascli.benchmarks'); "
        "import importlib.util; plugin = importlib.util.find_spec('hydra_plugins.nascli_hpo') is not None; "
        "print(all(conf.joinpath(n).is_file() for n in names) and tables.joinpath('nb201.csv').is_file() and plugin"
        " and 'Apache-2.0' in tables.joinpath('README.md').read_text())"
    )
    # -I: isolated from PYTHONPATH (a developer's source checkout on it has no nascli.conf) and the cwd
    out = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.stdout.strip() == "True", out.stderr


def test_a_source_checkout_finds_its_configs_too() -> None:
    from nascli.apps import config_path

    path = config_path()
    assert path == "pkg://nascli.conf" or Path(path, "search.yaml").is_file()


def test_a_shipped_table_is_found_by_name_and_a_path_still_works(tmp_path: Path) -> None:
    from nascli.benchmarks import shipped, table_path

    assert "nb201" in shipped() and table_path("nb201").name == "nb201.csv"
    mine = tmp_path / "mine.csv"
    mine.write_text("dataset,arch,val_accuracy\n")
    assert table_path(str(mine)) == mine
