"""Run a subcommand: its report, its status, and user mistakes as one clear message.

It stands above the command bodies it runs (the layer between nascli.apps and nascli.commands).

The command body (`nascli.commands.<name>.run(ctx)`) returns its objective metric; a user mistake
anywhere becomes a message and exit status 2, and the report always says how the run ended.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from omegaconf import DictConfig
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue
from rich.console import Console

from nascli.errors import ConfigError, NasError, StorageError
from nascli.runtime import devices, torchrun
from nascli.runtime.config import build
from nascli.runtime.console import output, print_error
from nascli.runtime.context import RunContext
from nascli.runtime.files import remove_if_only_bookkeeping, remove_temporaries
from nascli.runtime.lock import RunLock, made_by_this_process
from nascli.runtime.loggers import RunLoggers, open_loggers
from nascli.runtime.run_report import RunReport, now_iso
from nascli.runtime.run_config import RunConfig, settle

log = logging.getLogger("nascli")


def command_module(command: str) -> ModuleType:
    """The module that holds `nas <command>`'s body (its `run(ctx)`), imported only when the command
    runs, so that `nas --help` imports no torch."""
    match command:
        case "search":
            from nascli.commands import search as module
        case "retrain":
            from nascli.commands import retrain as module
        case "evaluate":
            from nascli.commands import evaluate as module
        case "export":
            from nascli.commands import export as module
        case "meta-train":
            from nascli.commands import meta_train as module
        case "latency-table":
            from nascli.commands import latency_table as module
        case "predict":
            from nascli.commands import predict as module
        case _:
            raise ValueError(f"no Hydra command named {command!r}")
    return module


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


def _write_last(report: RunReport, command: str, outcome: Outcome, errors: Console | None) -> None:
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
    process = torchrun.this_process()
    console = console or output()
    if process is not None and not process.main:
        console = Console(quiet=True)
    run_dir = Path(run_dir)
    report = RunReport(run_dir, command, argv)
    outcome, owns_report = Outcome(0), False
    held = contextlib.ExitStack()  # the run directory's lock, released when the command ends
    loggers = RunLoggers()
    kept: RunConfig | None = None  # a resumed run's record as it was, written back if the resume fails
    main = process is None or process.main
    try:
        module = command_module(command)
        if process is not None:
            torchrun.check_command(command, module, process)
            torchrun.start(process)
            run_dir = torchrun.agree_on_run_dir(process, run_dir, lambda d: _guard_run_dir(d, cfg, command, held))
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
        with devices.place_run(cfg) if process is None else contextlib.nullcontext() as placement:
            if placement is not None:  # which GPU a sweep job holds, and why
                report.results["placement"] = placement.record()
            outcome.objective = module.run(RunContext(command, cfg, run_dir, report, console, paths, process, loggers,
                                                      record))
        report.status = "completed"
    except KeyboardInterrupt:
        report.status, report.error, outcome.code = "interrupted", "interrupted by the user (Ctrl-C)", 130
        console.print("[yellow]Interrupted.[/] What was written so far is kept; `resume=true` continues the run.")
    except torchrun.StoppedByRankZero:
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
        if process is not None:
            torchrun.stop()
        held.close()
    made = made_by_this_process(run_dir) if outcome.code == ConfigError.exit_code and main else None
    if made is not None:
        remove_if_only_bookkeeping(run_dir, command, made)  # a mistake before anything was made leaves no directory
    return outcome
