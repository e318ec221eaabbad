"""Package discovery: every package under nascli/ and hydra_plugins/ is found, and the top-level conf/
ships as nascli.conf (Hydra reads it as pkg://nascli.conf), which no declarative form can both find
and map. Everything else about the project is in pyproject.toml."""

from pathlib import Path

from setuptools import find_namespace_packages, find_packages, setup

ROOT = Path(__file__).resolve().parent


def packages() -> list[str]:
    """The packages the wheel holds: nascli and its subpackages, our Hydra plugin, and the configs (each
    config group a folder of YAML files, a namespace package to setuptools)."""
    code = find_packages(ROOT, include=["nascli", "nascli.*"])
    plugins = find_namespace_packages(ROOT, include=["hydra_plugins.*"], exclude=["*__pycache__"])  # hydra_plugins/ is a namespace: Hydra's rule
    configs = ["nascli.conf", *(f"nascli.conf.{group}" for group in find_namespace_packages(ROOT / "conf", exclude=["*__pycache__"]))]
    return [*code, *plugins, *configs]


if __name__ == "__main__":
    setup(packages=packages())
