"""The run's own config: what it was made with, and what `resume=true` continues from.

Hydra rewrites `.hydra/config.yaml` and `.hydra/overrides.yaml` each time a command starts, so a
resume would replace the record of the run it continues (and compose the defaults in place of the
run's own settings). The runner keeps the run's own record in `.hydra/run.yaml`: its composed config
and the command line it was composed from. A resume takes that config and applies only what the
resume's command line changes (Hydra composes the run's command line with and without the resume's,
and the difference is applied), refuses a change run_state's rule does not allow, and writes Hydra's
two files back, so that they show the run's own settings plus what the resume changed.

The same composition sets values beneath the command line: `RunConfig.beneath` (a retrain's
searched hyper-parameters, which a `trainer.<key>=` given on the command line overrides).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nascli.errors import CheckpointError, ConfigError, NasError
from nascli.runtime.files import write_text
from nascli.runtime.run_state import differences, fingerprint, refusal

RECORD = Path(".hydra") / "run.yaml"
FORMAT = "nascli.run/1"


@dataclass
class RunConfig:
    """A run's config record: the composed config (interpolations kept, as Hydra saves it) and the
    command line it was composed from, with each resume's command line merged in."""

    command: str
    overrides: list[str]
    config: dict[str, Any]
    resumes: list[dict[str, Any]] = field(default_factory=list)  # each resume: its command line, what it changed

    @classmethod
    def of(cls, command: str, cfg: DictConfig, overrides: list[str]) -> RunConfig:
        """The record of a run starting now with the composed `cfg` of `overrides`."""
        return cls(command, list(overrides), OmegaConf.to_container(cfg, resolve=False))

    @classmethod
    def read(cls, run_dir: Path) -> RunConfig | None:
        """The record in `run_dir`, or None where there is none (a run of an older nascli)."""
        path = Path(run_dir) / RECORD
        if not path.is_file():
            return None
        try:
            node = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        except Exception as exc:  # noqa: BLE001 - a damaged YAML file fails the parser in many ways
            raise CheckpointError(f"{path} is not a readable run record ({str(exc).splitlines()[0][:200]}).") from None
        if not isinstance(node, dict) or node.get("format") != FORMAT or not isinstance(node.get("config"), dict):
            raise CheckpointError(f"{path} is not a nascli run record (expected format {FORMAT}).")
        return cls(str(node["command"]), [str(o) for o in node.get("overrides") or []], node["config"],
                   list(node.get("resumes") or []))

    def write(self, run_dir: Path, hydra: bool = True) -> None:
        """The record and (`hydra`) Hydra's config.yaml and overrides.yaml to match it, each atomically
        (a new run's are Hydra's own already)."""
        run_dir = Path(run_dir)
        record = {"format": FORMAT, "command": self.command, "overrides": self.overrides, "config": self.config,
                  "resumes": self.resumes}
        write_text(run_dir / RECORD, OmegaConf.to_yaml(OmegaConf.create(record)))
        if hydra:
            write_text(run_dir / ".hydra" / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(self.config)))
            write_text(run_dir / ".hydra" / "overrides.yaml", OmegaConf.to_yaml(OmegaConf.create(self.overrides)))

    def cfg(self) -> DictConfig:
        """The config as a command reads it (struct mode, as Hydra hands it over)."""
        cfg = OmegaConf.create(copy.deepcopy(self.config))
        OmegaConf.set_struct(cfg, True)
        return cfg

    def resolved(self) -> dict[str, Any]:
        return OmegaConf.to_container(OmegaConf.create(copy.deepcopy(self.config)), resolve=True)

    def resumed_by(self, given: list[str], run_dir: Path) -> tuple[RunConfig, list[str]]:
        """This run continued by a command line `given` (the resume's overrides): the run's config
        with what `given` changes applied, and those changes (`key was X, is Y`). A change that
        alters what the run computes is refused with every such difference named."""
        overrides = merge_overrides(self.overrides, given)
        config = _apply(self.config, _composed(self.command, self.overrides), _composed(self.command, overrides))
        after = replace(self, overrides=overrides, config=config)
        was, now = self.resolved(), after.resolved()
        fixed = differences(fingerprint(was), fingerprint(now))
        if fixed:
            raise CheckpointError(refusal(run_dir, self.command, fixed))
        changed = [line for line in differences(was, now) if not line.startswith("resume ")]
        after.resumes = [*self.resumes, {"overrides": list(given), "changed": changed}]
        return after, changed

    def beneath(self, values: Mapping[str, Any]) -> RunConfig:
        """This config with `values` (dotted keys) set beneath the command line: a value the command
        line sets wins over them, one only a default or a preset sets does not."""
        layer = [f"++{key}={override_value(value)}" for key, value in values.items()]
        config = _apply(self.config, _composed(self.command, self.overrides),
                        _composed(self.command, [*layer, *self.overrides]))
        return replace(self, config=config)


def merge_overrides(original: list[str], given: list[str]) -> list[str]:
    """The run's command line with a later one's overrides in place of those of the same key or
    inside it (`budget=schedule` replaces `budget.trials=1`), the later ones last, as Hydra applies
    them; a key the original added (`+key=`) is set with `++`."""
    keys = {_key(line) for line in given}
    kept = [line for line in original if not any(_key(line) == k or _key(line).startswith(k + ".") for k in keys)]
    prefixed = {_key(line) for line in original if line.startswith(("+", "~"))}
    later = [f"++{line}" if _key(line) in prefixed and not line.startswith(("+", "~")) else line for line in given]
    return kept + later


def _key(line: str) -> str:
    return line.lstrip("+~").split("=", 1)[0].strip()


def override_value(value: Any) -> str:
    """`value` written in Hydra's override grammar."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{override_value(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"{value!r} cannot be written as a config value.")


def compose(command: str, overrides: list[str]) -> DictConfig:
    """`nas <command> <overrides>`'s config as Hydra composes it (inside the app, with the app's
    Hydra; elsewhere, from nascli's config directory)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from nascli.runtime.config import config_path

    if GlobalHydra.instance().is_initialized():
        return hydra_compose(config_name=command, overrides=overrides)
    path = config_path()
    init = (initialize_config_module(config_module="nascli.conf", version_base="1.3") if path.startswith("pkg://")
            else initialize_config_dir(config_dir=path, version_base="1.3"))
    with init:
        return hydra_compose(config_name=command, overrides=overrides)


def _composed(command: str, overrides: list[str]) -> dict[str, Any]:
    """compose() as plain containers (interpolations kept); a command line that no longer composes
    (an option renamed since the run began) is a clear error."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_container(compose(command, overrides), resolve=False)
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"The command line `nas {command} {' '.join(overrides)}` does not compose with this "
                          f"nascli ({first}).") from None


def _apply(base: Any, before: Any, after: Any) -> Any:
    """`base` with what changes from `before` to `after` (plain containers): keys added, removed or
    set; what does not change keeps `base`'s value."""
    if before == after:
        return base
    if not (isinstance(base, dict) and isinstance(before, dict) and isinstance(after, dict)):
        return copy.deepcopy(after)
    out = dict(base)
    for key in [*before, *(k for k in after if k not in before)]:
        if key not in after:
            out.pop(key, None)
        elif key not in before or key not in base:
            out[key] = copy.deepcopy(after[key])
        else:
            out[key] = _apply(base[key], before[key], after[key])
    return out


def settle(command: str, cfg: DictConfig, run_dir: Path, given: list[str], console: Any,
           write: bool) -> tuple[RunConfig, dict[str, Any] | None, RunConfig | None]:
    """The config a command runs with, as a record (the runner writes it): a new run's own, or, with
    resume=true, the resumed run's own with what `given` changes, said in one line; a refused
    change writes the run's record back over what Hydra wrote for this attempt. Returns it with
    what report.json says of the resume (None: not resumed) and the record to write back if the
    resumed command fails (a failed resume leaves the run's record as it was; a killed one keeps
    what it changed)."""
    run_dir = Path(run_dir)
    record = RunConfig.of(command, cfg, given)
    if not cfg.get("resume", False):
        return record, None, None
    saved = RunConfig.read(run_dir)
    if saved is None:
        if (run_dir / "report.json").exists():
            console.print(f"resume=true: {run_dir} keeps no record of its own settings ({RECORD}: a run of an older "
                          "nascli); it continues with this command line's, which must be the run's.",
                          highlight=False, soft_wrap=True)
        return record, {"overrides": list(given), "changed": None}, None  # changed None: the run kept no record
    if saved.command != command:
        raise CheckpointError(f"{run_dir} holds a `nas {saved.command}` run: continue it with "
                              f"`nas {saved.command} hydra.run.dir={run_dir} resume=true`.")
    try:
        resumed, changed = saved.resumed_by(given, run_dir)
    except NasError:
        if write:
            saved.write(run_dir)  # Hydra rewrote .hydra/ for this attempt: the run's own record stays
        raise
    own = " ".join(line for line in saved.overrides if _key(line) != "resume") or "its defaults"
    console.print(f"Resuming {run_dir} as it was configured ({own})"
                  + (f"; this command changes {', '.join(changed)}." if changed else "."),
                  highlight=False, soft_wrap=True)
    return resumed, {"overrides": list(given), "changed": changed}, saved
