"""The Optuna study of a sweep, stored (SQLite in the sweep directory by default) so that rerunning
the same command with the same `hydra.sweep.dir` continues it where an interruption left it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from nascli.errors import ConfigError

OUTCOME = "nascli.outcome"      # user attribute: how the trial's job ended, "completed" or "failed"
JOB_DIR = "nascli.job_dir"      # user attribute: the trial's job (run) directory
ERROR = "nascli.error"          # user attribute: why the job failed
RERUN_OF = "nascli.rerun_of"    # user attribute: the interrupted trial whose parameters this one runs again


def reported_direction(job_dir: str | None) -> tuple[str, str] | None:
    """(metric, "maximize" or "minimize"): what a job's report.json says its returned objective is
    (`objective_metric`, nascli.runtime.metrics); None when it does not say (a command that returns
    an accuracy records nothing) or cannot be read."""
    try:
        recorded = json.loads((Path(job_dir or ".") / "report.json").read_text()).get("objective_metric")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(recorded, dict) or recorded.get("direction") not in ("min", "max"):
        return None
    return str(recorded.get("metric")), "minimize" if recorded["direction"] == "min" else "maximize"


def stored_direction(optuna: ModuleType, name: str, storage: str) -> str | None:
    """The direction the study `name` in `storage` was made with; None when there is no such study yet."""
    try:
        return optuna.load_study(study_name=name, storage=storage).direction.name.lower()
    except KeyError:
        return None


def check_direction(direction: str, job_dir: str | None) -> None:
    """A ConfigError when the study `direction` is the opposite of the job's objective's: the study
    would seek the worst networks (a perplexity maximised)."""
    reported = reported_direction(job_dir)
    if reported is None or reported[1] == direction:
        return
    metric, wanted = reported
    raise ConfigError(
        f"The command's objective is {metric}, which is {'lower' if wanted == 'minimize' else 'higher'} is better, "
        f"but hydra.sweeper.direction={direction}: the study would seek the worst. Set "
        f"hydra.sweeper.direction={wanted} (in a new hydra.sweep.dir: a study keeps the direction it was made with).")


def storage_url(storage: str | None, sweep_dir: Path) -> str:
    """The study's storage URL (sqlite:///<sweep dir>/optuna.db when null), with a relative SQLite
    path made absolute: a job may change the working directory (hydra.job.chdir=true)."""
    url = storage or f"sqlite:///{sweep_dir}/optuna.db"
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        url = prefix + str(Path(url[len(prefix):]).resolve())
    return url


def open_study(optuna: ModuleType, name: str, storage: str, direction: str) -> Any:
    """The study `name` in `storage`: created, or loaded to continue it (in the same direction)."""
    study = optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True)
    stored = study.direction.name.lower()
    if stored != direction:
        raise ConfigError(f"The study {name!r} in {storage} was made to {stored} its objective, not to {direction}; "
                          f"keep hydra.sweeper.direction={stored} to continue it, or sweep into another hydra.sweep.dir.")
    return study


def recover_interrupted(optuna: ModuleType, study: Any) -> list[Any]:
    """Trials an interruption left running are marked failed, and their parameters queued to run
    first, so that the continued sweep tries what the interrupted one was trying. Returns them."""
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for trial in running:
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={RERUN_OF: trial.number})
    return running


def attempts(study: Any) -> int:
    """Trials that count toward n_trials: those whose job ran to its end, completed or failed (an
    interrupted trial does not count; its parameters run again)."""
    return sum(1 for trial in study.get_trials(deepcopy=False) if trial.user_attrs.get(OUTCOME))


def make_sampler(config: Mapping[str, Any], attempt: int) -> Any:
    """The sampler that proposes the sweep's `attempt`-th trial, built from `hydra.sweeper.sampler`.

    A seeded sampler gets a seed drawn from (seed, attempt): the same seed gives the same trials,
    and a continued sweep does not replay the random start of the interrupted one (a sampler
    re-seeded as it was would propose its first trials' parameters again).
    """
    import numpy as np
    from omegaconf import OmegaConf

    from nascli.runtime.config import build

    values = dict(config)  # plain values, interpolations already resolved
    if values.get("seed") is not None:
        values["seed"] = int(np.random.SeedSequence([int(values["seed"]) % 2**32, attempt]).generate_state(1)[0])
    return build(OmegaConf.create(values), "hydra.sweeper.sampler")
