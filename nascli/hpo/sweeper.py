"""A Hydra sweeper on Optuna's ask/tell API: ask for a batch of trials, launch them through
Hydra's launcher (local, joblib, submitit, ...), tell Optuna each job's objective.

The objective of a job is what the app returns (search: the best objective; retrain: validation
accuracy), optimised in hydra.sweeper.direction; a job whose report.json says its objective is the
other way (objective_metric: a perplexity is minimised) stops the sweep with what to set. With
direction=auto the first trial runs before the study exists, and the direction its job reports (a
perplexity: minimize; nothing said: maximize) is the study's; a continued study keeps its own. A job that fails, or returns no finite number, is told as a failed trial and the sweep
goes on; the sweep ends non-zero only when no trial completes. Each trial's job directory is
numbered by the trial, so a continued sweep never overwrites an earlier trial's directory.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf
from rich import get_console
from rich.markup import escape

from nascli.errors import ConfigError, NasError
from nascli.hpo.extra import import_optuna
from nascli.hpo.sweep_space import SweepSpace, describe, parse_space
from nascli.hpo.study import (ERROR, JOB_DIR, OUTCOME, RERUN_OF, attempts, check_direction, make_sampler, open_study,
                              recover_interrupted, reported_direction, storage_url, stored_direction)
from nascli.hpo.summary import RESULTS, summary_table, write_summary
from nascli.runtime.config import check_value
from nascli.runtime.console import output
from nascli.runtime.files import write_text

GIVE_UP_AFTER = 3  # a sweep whose first trials all fail stops after this many: the command, not its values, is wrong


@contextlib.contextmanager
def user_errors(command: str) -> Iterator[None]:
    """A user mistake in the sweep (bad space, no Optuna, bad override) is one message and exit 2;
    Hydra would print it as a traceback."""
    from hydra.errors import HydraException

    from nascli.runtime.console import print_error

    try:
        yield
    except (NasError, HydraException) as exc:
        print_error(command, str(exc).strip())
        raise SystemExit(exc.exit_code if isinstance(exc, NasError) else ConfigError.exit_code) from None


def objective_of(ret: JobReturn) -> tuple[float | None, str | None, BaseException | None]:
    """(the job's objective, or None and why not; the exception if the job raised one)."""
    try:
        value = ret.return_value
    except Exception as exc:  # noqa: BLE001 - the job's own exception, re-raised by JobReturn
        return None, f"{type(exc).__name__}: {exc}", exc
    if value is None:
        report = Path(_job_dir(ret) or ".") / "report.json"
        error = json.loads(report.read_text()).get("error") if report.is_file() else None
        return None, error or "the command returned no objective", None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None, f"the command returned {value!r}, not a number", None
    if not math.isfinite(value):
        return None, f"the objective is {value}", None
    return value, None, None


def _job_dir(ret: JobReturn) -> str | None:
    return OmegaConf.select(ret.hydra_cfg, "hydra.runtime.output_dir") if ret.hydra_cfg is not None else None


class OptunaSweeper(Sweeper):
    """Optimise the app's returned objective with an Optuna study, one batch of n_jobs trials at a time.

    Built by Hydra from conf/hydra/sweeper/optuna.yaml (every option and its default are there).
    """

    def __init__(self, sampler: Any, direction: str, n_trials: int, n_jobs: int, study_name: str,
                 storage: str | None, params: Any) -> None:
        self.options = {"direction": direction, "n_trials": n_trials, "n_jobs": n_jobs, "study_name": study_name,
                        "storage": storage}
        self.sampler, self.params = sampler, params
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher: Any = None

    # --- Hydra's Sweeper interface ---------------------------------------------------------------
    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context,
                                                                task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        assert self.config is not None
        with user_errors(str(self.config.hydra.job.config_name)):
            return self._sweep(arguments)

    # --- the sweep -------------------------------------------------------------------------------
    def _checked(self) -> dict[str, Any]:
        from typing import Literal

        types = {"direction": Literal["maximize", "minimize", "auto"], "n_trials": int, "n_jobs": int, "study_name": str,
                 "storage": str | None}
        checked = {k: check_value(v, types[k], f"hydra.sweeper.{k}") for k, v in self.options.items()}
        for key in ("n_trials", "n_jobs"):
            if checked[key] < 1:
                raise ConfigError(f"hydra.sweeper.{key} must be at least 1, got {checked[key]}.")
        return checked

    def _sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        from nascli.runtime.config import plain

        assert self.config is not None and self.launcher is not None
        optuna = import_optuna()
        opts = self._checked()
        space = parse_space(plain(self.params), arguments)
        sampler = plain(self.sampler)
        make_sampler(sampler, 0)  # a mistake in the sampler's options shows before anything runs
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        write_text(sweep_dir / "multirun.yaml", OmegaConf.to_yaml(self.config))
        storage = storage_url(opts["storage"], sweep_dir)
        returns: list[Sequence[JobReturn]] = []
        first = None  # with direction=auto, a new study's first trial, run to learn the direction
        if opts["direction"] == "auto":
            opts["direction"] = stored_direction(optuna, opts["study_name"], storage)
            if opts["direction"] is None:
                opts["direction"], first = self._first_trial(optuna, space, sampler)
                returns.append([first[1]])
        study = open_study(optuna, opts["study_name"], storage, opts["direction"])
        interrupted = recover_interrupted(optuna, study)
        self._header(study, space, opts, sampler, storage, interrupted)

        try:
            if first is not None:  # the same parameters, as the study's trial 0
                study.enqueue_trial(first[0].params)
                self._tell(optuna, study, study.ask(space.distributions()), first[1], opts["n_trials"], first[2])
            self._run(optuna, study, space, sampler, opts, returns)
        except (KeyboardInterrupt, SystemExit):
            get_console().print(f"[yellow]Sweep interrupted.[/] Rerun the same command with "
                                f"hydra.sweep.dir={escape(str(sweep_dir))} to continue it.", soft_wrap=True)
            raise
        finally:
            summary = write_summary(study, space, sweep_dir, storage, opts["n_trials"])
        self._footer(study, space, summary, sweep_dir)
        if not self._completed(optuna, study):
            raise NasError(f"No trial of the study {study.study_name!r} completed; see {sweep_dir / 'hpo_trials.csv'}.")
        return returns

    def _run(self, optuna: Any, study: Any, space: SweepSpace, sampler: dict[str, Any], opts: dict[str, Any],
             returns: list[Sequence[JobReturn]]) -> None:
        """Ask, launch and tell, a batch of n_jobs trials at a time, until n_trials have run."""
        ran = failed = 0
        while (done := attempts(study)) < opts["n_trials"]:
            trials = []
            for i in range(min(opts["n_jobs"], opts["n_trials"] - done)):
                study.sampler = make_sampler(sampler, done + i)
                trials.append(study.ask(space.distributions()))
            batch = [space.overrides(t.params) for t in trials]
            self._validate(optuna, study, trials, batch)
            started = time.perf_counter()
            results = self._launch(trials, batch)
            seconds = time.perf_counter() - started  # of the batch: its jobs may run side by side
            for trial, ret in zip(trials, results):
                failed += not self._tell(optuna, study, trial, ret, opts["n_trials"], seconds)
            for ret in results:  # told first, so that the study keeps the trials that ran
                check_direction(opts["direction"], _job_dir(ret))
            ran += len(trials)
            returns.append(results)
            if failed == ran >= GIVE_UP_AFTER and not self._completed(optuna, study):
                raise NasError(f"The first {ran} trials of the sweep all failed, so it stopped. The last one: "
                               f"{study.trials[-1].user_attrs.get(ERROR)}")

    def _first_trial(self, optuna: Any, space: SweepSpace, sampler: dict[str, Any]) -> tuple[str, tuple[Any, JobReturn, float]]:
        """direction=auto for a new study: the first trial, asked of a study in memory with the sampler
        the study would use, run; returns the direction its job reports (maximize when it says none)
        and (that trial, its job, its seconds) for the study to be told."""
        probe = optuna.create_study(sampler=make_sampler(sampler, 0))
        trial = probe.ask(space.distributions())
        overrides = space.overrides(trial.params)
        self.validate_batch_is_legal([overrides])
        get_console().print("direction=auto: the first trial runs before the study is made, to learn which way its "
                            "objective is better", soft_wrap=True)
        started = time.perf_counter()
        ret = self._launch([trial], [overrides])[0]
        reported = reported_direction(_job_dir(ret))
        return (reported[1] if reported else "maximize"), (trial, ret, time.perf_counter() - started)

    def _completed(self, optuna: Any, study: Any) -> bool:
        return bool(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))

    def _validate(self, optuna: Any, study: Any, trials: list[Any], batch: list[list[str]]) -> None:
        """Compose every job's config before launching: a bad override fails here, its trials told as failed."""
        try:
            self.validate_batch_is_legal(batch)
        except Exception:
            for trial in trials:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise

    def _launch(self, trials: list[Any], batch: list[list[str]]) -> list[JobReturn]:
        """Launch the batch, each job numbered by its trial (one call when the numbers run on)."""
        first = trials[0].number
        if [t.number for t in trials] == list(range(first, first + len(trials))):
            return list(self.launcher.launch(batch, initial_job_idx=first))
        return [self.launcher.launch([overrides], initial_job_idx=t.number)[0] for t, overrides in zip(trials, batch)]

    def _tell(self, optuna: Any, study: Any, trial: Any, ret: JobReturn, n_trials: int, seconds: float) -> bool:
        """Tell Optuna how the trial's job ended and print it; returns whether it completed."""
        value, error, exc = objective_of(ret)
        job_dir = _job_dir(ret)
        trial.set_user_attr(JOB_DIR, job_dir)
        trial.set_user_attr(OUTCOME, "failed" if value is None else "completed")
        if exc is not None and not isinstance(exc, NasError) and job_dir:  # a bug: keep its traceback
            write_text(Path(job_dir) / "traceback.txt", "".join(traceback.format_exception(exc)))
            error = f"{error} (traceback in {Path(job_dir) / 'traceback.txt'})"
        if value is None:
            trial.set_user_attr(ERROR, error)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)
        self._progress(study, trial, value, error, n_trials, seconds)
        return value is not None

    # --- what the user sees ----------------------------------------------------------------------
    def _header(self, study: Any, space: SweepSpace, opts: dict[str, Any], sampler: dict[str, Any], storage: str,
                interrupted: list[Any]) -> None:
        done, target = attempts(study), opts["n_trials"]
        resumed = f", continuing: {done} done" if done or interrupted else ""
        again = f", {len(interrupted)} interrupted to run again" if interrupted else ""
        resumed = ", all done already" if done >= target else resumed
        kind = str(sampler.get("_target_", "")).rpartition(".")[2]
        get_console().print(f"[bold]Optuna sweep[/] of study [bold]{escape(study.study_name)}[/] "
                           f"({escape(storage)}): {opts['direction']} the objective over {target} trials with {kind}"
                           f"{resumed}{again}.", soft_wrap=True)
        for param in space.params:
            get_console().print(f"  {escape(param.key)}: {escape(describe(param))}", soft_wrap=True)

    def _progress(self, study: Any, trial: Any, value: float | None, error: str | None, n_trials: int,
                  seconds: float) -> None:
        counted = attempts(study)
        head = f"[bold]trial {counted}/{n_trials}[/] #{trial.number}"
        rerun = trial.user_attrs.get(RERUN_OF)
        head += f" (again: #{rerun})" if rerun is not None else ""
        if value is None:
            line = f"{head}  [red]failed[/]: {escape(str(error))}"
        else:
            best = study.best_trial
            mark = "[green]new best[/]" if best.number == trial.number else f"best {best.value:.4g} (#{best.number})"
            line = f"{head}  objective [bold]{value:.4g}[/]  {mark}"
        params = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
        get_console().print(f"{line}  {seconds:.1f} s  {escape(params)}", soft_wrap=True)

    def _footer(self, study: Any, space: SweepSpace, summary: dict[str, Any], sweep_dir: Path) -> None:
        output().print(summary_table(study, space))
        if summary["best_trial"] is not None:
            get_console().print(f"best: trial #{summary['best_trial']}, objective {summary['best_value']:.4g}: "
                               f"{escape(' '.join(summary['best_overrides']))}", soft_wrap=True)
        get_console().print(f"sweep directory: {escape(str(sweep_dir.resolve()))} ({RESULTS}, hpo_trials.csv, hpo_history.png)",
                           soft_wrap=True)
