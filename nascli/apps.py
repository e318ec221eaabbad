"""One Hydra application per subcommand, each with its own primary config `conf/<subcommand>.yaml`.

Nothing here imports torch: Hydra composes (and answers --help, --cfg, -sc) before the command
body in nascli.commands is imported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf



def config_path() -> str:
    """Where Hydra finds the configs: inside the installed package (nascli.conf), or, when the
    package is imported from a source checkout, the checkout's top-level conf/ directory."""
    import importlib.util

    if importlib.util.find_spec("nascli.conf") is not None:
        return "pkg://nascli.conf"
    return str(Path(__file__).resolve().parents[1] / "conf")


def cache_dir() -> str:
    """The user's cache directory for nascli (XDG_CACHE_HOME honoured)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "nascli")


if not OmegaConf.has_resolver("nas.cache_dir"):
    OmegaConf.register_new_resolver("nas.cache_dir", cache_dir)


def _task(subcommand: str):
    def task(cfg: DictConfig) -> None:
        from nascli.runtime.runner import run_command

        code = run_command(subcommand, cfg)
        if code:
            sys.exit(code)

    task.__name__ = subcommand.replace("-", "_")
    return task


def run_app(subcommand: str, args: list[str]) -> int:
    """Run the Hydra app of `subcommand` with `args` as its command line."""
    app = hydra.main(version_base="1.3", config_path=config_path(), config_name=subcommand)(_task(subcommand))
    sys.argv = [sys.argv[0], *args]
    app()
    return 0
