"""One Hydra application per subcommand, each with its own primary config `conf/<subcommand>.yaml`.

Nothing here imports torch: Hydra composes (and answers --help, --cfg, -sc) before the command
body in nascli.commands is imported. A mistake Hydra finds while composing (an unknown option
or key, a bad override) exits with status 2 like every other user mistake, with the valid keys.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import hydra
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from nascli.runtime.config import config_path, unknown_key


def cache_dir() -> str:
    """The user's cache directory for nascli (XDG_CACHE_HOME honoured)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "nascli")


if not OmegaConf.has_resolver("nas.cache_dir"):
    OmegaConf.register_new_resolver("nas.cache_dir", cache_dir)


class HeldStderr:
    """sys.stderr while Hydra composes: what it writes is held until the command starts, so that a
    config mistake it reports (with advice such as `+key=` that is wrong for a mistyped key) can be
    replaced by our one message with the valid keys. Everything else goes out when the command starts."""

    def __init__(self, real: Any) -> None:
        self.real, self.held, self.holding = real, [], True

    def write(self, text: str) -> int:
        if self.holding:
            self.held.append(text)
            return len(text)
        return self.real.write(text)

    def release(self, keep: bool) -> None:
        """Stop holding; write what was held (keep) or drop it (our own message replaces it)."""
        if self.holding and keep and self.held:
            self.real.write("".join(self.held))
        self.holding = False
        self.held.clear()

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, ...: the real stream's
        return getattr(self.real, name)


class ReleaseStderr(Callback):
    """Hydra callback (conf/hydra/default.yaml): composing is done, so what Hydra wrote while composing
    goes out, and stderr is the real one again (a sweep's launcher must not inherit the holder)."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        _release_stderr()

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        _release_stderr()


def _release_stderr() -> None:
    if isinstance(sys.stderr, HeldStderr):
        sys.stderr.release(keep=True)
        sys.stderr = sys.stderr.real


def _task(subcommand: str) -> Any:
    def task(cfg: DictConfig) -> float | None:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        from nascli.hpo import runs_in_sweep
        from nascli.runner import run_command
        from nascli.runtime.console import print_error

        hc = HydraConfig.get()
        preset = hc.runtime.choices.get("hparams_search")
        if preset and hc.mode == RunMode.RUN:
            print_error(subcommand, f"hparams_search={preset} is an Optuna sweep: run it with -m, "
                                    f"e.g. nas {subcommand} -m hparams_search={preset} ...")
            sys.exit(2)
        outcome = run_command(subcommand, cfg, Path(hc.runtime.output_dir), list(hc.overrides.task))
        if outcome.code == 130 or (outcome.code and not runs_in_sweep(hc)):
            sys.exit(outcome.code)
        return outcome.objective  # None for a failed trial of an Optuna sweep, which records it and goes on

    task.__name__ = subcommand.replace("-", "_")
    return task


def _composition_hint(exc: BaseException | None) -> str | None:
    """For an override of a key the config lacks: the key and the valid ones (Hydra names only the key)."""
    cause = getattr(exc, "__cause__", None)
    parent, full_key = getattr(cause, "parent_node", None), getattr(cause, "full_key", None)
    if not OmegaConf.is_dict(parent) or not full_key:
        return None
    where, _, key = str(full_key).rpartition(".")
    valid = [k for k in parent.keys() if not str(k).startswith("_")]
    root = parent._get_root()
    elsewhere = {str(g): list(root[g].keys()) for g in root.keys() if OmegaConf.is_dict(root[g]) and str(g) != where}
    return str(unknown_key(key, valid, where or "the config", elsewhere))


def group_value_mistake(args: list[str]) -> str | None:
    """A config group given a number or a mapping instead of an option name (`strategy=nan`): Hydra
    would stop with a bare ValueError and a traceback that names no group. None if there is none."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from nascli.runtime.config import options_in

    try:
        overrides = OverridesParser.create().parse_overrides([a for a in args if not a.startswith("-")])
    except Exception:  # noqa: BLE001 - a malformed override: Hydra says what is wrong with it
        return None
    for override in overrides:
        group = override.key_or_group
        if override.is_delete() or override.is_sweep_override() or not options_in(group):
            continue
        value = override.value()
        if value is not None and not isinstance(value, (str, list)):
            return (f"{group} takes the name of one of its options ({', '.join(options_in(group))}), "
                    f"got {override.get_value_element_as_str()!r}.")
    return None


def _resume_hint(args: list[str]) -> str:
    """For a resume: Hydra composes its command line with the defaults before the runner applies it to
    the run's own settings, so a key of a group the run chose but the defaults do not needs the group."""
    if not any(arg.lower() in ("resume=true", "resume=yes", "resume=1") for arg in args):
        return ""
    return (" A resume's command line is composed with the defaults before it is applied to the run's own "
            "settings: name the run's option of that group too (e.g. strategy=darts strategy.compile=none), "
            "or set the key with ++ (++strategy.compile=none).")


# The launcher presets of optional extras (conf/hydra/launcher/): the plugin each needs, and its extra.
LAUNCHER_PLUGINS = {
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher", "slurm"),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher", "slurm"),
    "ray": ("hydra_plugins.hydra_ray_launcher", "hydra-ray-launcher", "ray"),
}


def missing_launcher(args: list[str]) -> str | None:
    """What is missing for a `hydra/launcher=` preset: its plugin (Hydra would only say 'Unknown plugin
    class' with a traceback) or, for Slurm, sbatch and srun; None if nothing is."""
    from importlib.util import find_spec

    if not {"-m", "--multirun"} & set(args):
        return None  # only a sweep starts the launcher (--cfg hydra shows its config anywhere)
    for arg in args:
        key, _, name = arg.partition("=")
        plugin = LAUNCHER_PLUGINS.get(name) if key.removeprefix("override ").lstrip("+") == "hydra/launcher" else None
        if plugin and find_spec(plugin[0]) is None:
            return (f"hydra/launcher={name} needs the {plugin[1]} plugin, which is not installed here: "
                    f'pip install "nascli[{plugin[2]}]"')
        if name == "submitit_slurm" and (shutil.which("sbatch") is None or shutil.which("srun") is None):
            return ("hydra/launcher=submitit_slurm submits with Slurm's sbatch and srun, which are not on PATH here: "
                    "run it on the cluster's login node, or try the sweep locally with hydra/launcher=submitit_local.")
    return None


def _register_sweeper() -> None:
    """Make our Optuna sweeper known to Hydra, which finds plugins by listing hydra_plugins/ folders:
    an editable install's is not among them. Registering it again is harmless."""
    from hydra.core.plugins import Plugins
    from hydra_plugins.nascli_hpo import OptunaSweeper

    Plugins.instance().register(OptunaSweeper)


def run_app(subcommand: str, args: list[str]) -> int:
    """Run the Hydra app of `subcommand` with `args` as its command line; returns the exit status."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from nascli.errors import NasError
    from nascli.runner import command_module
    from nascli.runtime.console import print_error
    from nascli.runtime.torchrun import check_command, this_process, worker_overrides

    here = this_process()
    if here is not None:  # under torchrun: refuse before Hydra makes a run directory
        if {"-m", "--multirun"} & set(args):
            print_error(subcommand, "torchrun starts the processes of one run; a sweep (-m) cannot run under it.")
            return 2
        try:
            check_command(subcommand, command_module(subcommand), here)
        except NasError as exc:
            print_error(subcommand, str(exc))
            return exc.exit_code
    missing = missing_launcher(args) or group_value_mistake(args)
    if missing:
        print_error(subcommand, missing)
        return 2
    _register_sweeper()
    # conf/hydra/launcher/{submitit_*,ray}.yaml set the plugins' own options; Hydra checks them against
    # their schemas of the same name, as we want, and warns that it will stop (it has not, up to 1.3).
    warnings.filterwarnings("ignore", message=r"\s*'hydra/launcher/(submitit_\w+|ray)' is validated against ConfigStore")
    real, stderr = sys.stderr, HeldStderr(sys.stderr)
    app = hydra.main(version_base="1.3", config_path=config_path(), config_name=subcommand)(_task(subcommand))
    sys.argv = [sys.argv[0], *args, *worker_overrides()]  # ranks above 0 write nothing of Hydra's
    if {"-h", "--help"} & set(args):
        return _help(app, subcommand)
    sys.stderr = stderr
    try:
        app()
    except SystemExit as exit_:
        mistake = exit_.__context__
        if exit_.code == 1 and stderr.holding and isinstance(mistake, (HydraException, OmegaConfBaseException)):
            hint = _composition_hint(mistake)  # ours names the valid keys; Hydra's is dropped then
            stderr.release(keep=hint is None)
            sys.stderr = real
            if hint:
                print_error(subcommand, hint + _resume_hint(args))
            return 2
        raise
    finally:
        stderr.release(keep=True)
        sys.stderr = real
    return 0


def _help(app: Any, subcommand: str) -> int:
    """Hydra's --help, with only the config groups this app chooses from (Hydra lists every group of
    conf/, other apps' included)."""
    import contextlib
    import io

    from nascli.runtime.config import app_groups

    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        try:
            app()
        except SystemExit as exit_:
            if exit_.code:
                raise
    ours, in_groups = app_groups(subcommand), False
    for line in text.getvalue().splitlines():
        if line.startswith("=="):
            in_groups = line.strip() == "== Configuration groups =="
        group, colon, _ = line.partition(":")
        if in_groups and colon and " " not in group and group not in ours:
            continue
        print(line)
    return 0
