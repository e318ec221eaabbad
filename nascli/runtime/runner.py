"""Run a subcommand: its report, its status, and user mistakes as one clear message.

The command body (`nascli.commands.<name>.run(ctx)`) returns its objective metric; a user mistake
anywhere becomes a message and exit status 2, and the report always says how the run ended.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue
from rich.console import Console

from nascli.errors import ConfigError, NasError, StorageError
from nascli.runtime import devices, distributed
from nascli.runtime.config import build
from nascli.runtime.console import output, print_error  # the one look of every error (apps and commands import it here)
from nascli.runtime.files import remove_temporaries
from nascli.runtime.lock import RunLock
from nascli.runtime.loggers import RunLoggers, open_loggers
from nascli.runtime.paths import Paths
from nascli.runtime.report import Report, now_iso
from nascli.runtime.run_config import RunConfig, settle

log = logging.getLogger("nascli")


@dataclass
class RunContext:
    """What a command body gets: its config, run directory, report, console and paths."""

    command: str
    cfg: DictConfig
    run_dir: Path
    report: Report
    console: Console
    paths: Paths
    world: distributed.World | None = None  # this process among several under torchrun; None alone
    loggers: RunLoggers = field(default_factory=RunLoggers)  # experiment trackers (logger=), per step
    record: RunConfig | None = None  # the run's config record (.hydra/): what it runs with, and its command line

    def beneath(self, values: Mapping[str, Any]) -> DictConfig:
        """The run's config with `values` (dotted keys) set beneath its command line, which wins where it
        sets the same keys (e.g. a genotype's searched lr under `trainer.lr=`); the run's config record
        (.hydra/config.yaml) is rewritten to show the values used."""
        if not values:
            return self.cfg
        self.record = (self.record or RunConfig.of(self.command, self.cfg, [])).beneath(values)  # [] : no command line
        if self.world is None or self.world.main:
            self.record.write(self.run_dir)
        self.cfg = self.record.cfg()
        return self.cfg


@dataclass
class Outcome:
    """How a command ended: its exit status and the objective it returned (None if it failed)."""

    code: int
    objective: float | None = None


def _guard_run_dir(run_dir: Path, cfg: DictConfig, command: str, held: contextlib.ExitStack) -> None:
    """Hold the run directory (one live process per directory: RunLock); refuse to overwrite another
    run's results unless resuming it (then drop a killed run's temporaries)."""
    held.enter_context(RunLock(run_dir, command))
    if not (run_dir / "report.json").exists():
        return
    if not cfg.get("resume", False):
        raise NasError(
            f"{run_dir} already holds the results of an earlier run; nothing was overwritten.\n"
            f"Choose another directory (hydra.run.dir=...) or, for `nas search`, `nas retrain` and `nas meta-train`, continue it with resume=true."
        )
    remove_temporaries(run_dir)


def _write_last(report: Report, command: str, outcome: Outcome, errors: Console | None) -> None:
    """The report's last write (finished, status); a disk that is full or no longer writable is said
    once (the command may have failed for the same reason already), never a traceback."""
    report.finished = now_iso()
    try:
        report.write()
    except StorageError as exc:
        if outcome.code == 0:
            print_error(command, str(exc), errors)
            outcome.code = exc.exit_code


def user_message(exc: BaseException) -> str | None:
    """The message for an exception that is the user's mistake, or None for a bug."""
    if isinstance(exc, NasError):
        return str(exc)
    if isinstance(exc, MissingMandatoryValue):
        return f"A required value is missing: {exc.full_key}. Give it on the command line, e.g. {exc.full_key}=<value>."
    if isinstance(exc, InterpolationResolutionError):
        return f"A config value could not be resolved: {exc}"
    return None


def run_command(command: str, cfg: DictConfig, run_dir: Path, argv: list[str], console: Console | None = None,
                errors: Console | None = None) -> Outcome:
    """Run `nas <command>` with its composed config in `run_dir` (`argv`: its overrides, for the report).

    Under torchrun every process runs the command in rank 0's run directory; only rank 0 prints and
    writes the report, and a command that cannot train data-parallel is refused.
    """
    world = distributed.world()
    console = console or output()
    if world is not None and not world.main:
        console = Console(quiet=True)
    run_dir = Path(run_dir)
    report = Report(run_dir, command, argv)
    outcome, owns_report = Outcome(0), False
    held = contextlib.ExitStack()  # the run directory's lock, released when the command ends
    loggers = RunLoggers()
    kept: RunConfig | None = None  # a resumed run's record as it was, written back if the resume fails
    main = world is None or world.main
    try:
        module = importlib.import_module(f"nascli.commands.{command.replace('-', '_')}")
        if world is not None:
            distributed.check_command(command, module, world)
            distributed.start(world)
            run_dir = distributed.agree_on_run_dir(world, run_dir, lambda d: _guard_run_dir(d, cfg, command, held))
            report.run_dir = run_dir
        else:
            _guard_run_dir(run_dir, cfg, command, held)
        record, resumed, kept = settle(command, cfg, run_dir, argv, console, write=main)
        if resumed is not None:  # the run's own config and command line, with what this command line changes
            cfg = record.cfg()
            report.argv = list(record.overrides)
        if "resume" in cfg:  # a command that resumes: whether this run was, and with what
            report.results["resumed"] = resumed or False
        if main:
            report.write()
            owns_report = True
            if "resume" in cfg and not (resumed and resumed["changed"] is None):  # (None: an older run, no record)
                # the run's own config, which a resume continues from; a new run's .hydra/ files are Hydra's
                record.write(run_dir, hydra=resumed is not None)
        paths = build(cfg.paths, "paths")
        if main:
            loggers = open_loggers(cfg, run_dir, command)
        with devices.place_run(cfg) if world is None else contextlib.nullcontext() as placement:
            if placement is not None:  # which GPU a sweep job holds, and why
                report.results["placement"] = placement.record()
            outcome.objective = module.run(RunContext(command, cfg, run_dir, report, console, paths, world, loggers,
                                                      record))
        report.status = "completed"
    except KeyboardInterrupt:
        report.status, report.error, outcome.code = "interrupted", "interrupted by the user (Ctrl-C)", 130
        console.print("[yellow]Interrupted.[/] What was written so far is kept; `resume=true` continues the run.")
    except distributed.StoppedByRankZero:
        outcome.code = 2  # rank 0 printed why
    except Exception as exc:  # noqa: BLE001 - user mistakes become messages, bugs propagate
        message = user_message(exc)
        report.status, report.error = "failed", message or f"{type(exc).__name__}: {exc}"
        if message is None:
            raise
        outcome.code = exc.exit_code if isinstance(exc, NasError) else ConfigError.exit_code
        print_error(command, message, errors)
        if kept is not None and main:
            kept.write(run_dir)
    finally:
        if owns_report:
            _write_last(report, command, outcome, errors)
            loggers.finish(run_dir, report.status, report.results)
        if world is not None:
            distributed.stop()
        held.close()
    return outcome
