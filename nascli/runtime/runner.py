"""Run a subcommand inside its Hydra app: the report, the status, and clean user-facing errors."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue
from rich.console import Console
from rich.panel import Panel

from nascli.errors import ConfigError, NasError
from nascli.runtime.report import Report, now_iso

log = logging.getLogger("nascli")


@dataclass
class RunContext:
    """What a command body gets: its config, run directory, report and console."""

    command: str
    cfg: DictConfig
    run_dir: Path
    report: Report
    console: Console


def _hydra_run_dir_and_argv() -> tuple[Path, list[str]]:
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    return Path(hc.runtime.output_dir), list(hc.overrides.task)


def _guard_run_dir(run_dir: Path, command: str, cfg: DictConfig) -> None:
    """Refuse to overwrite another run's results unless resuming it."""
    previous = run_dir / "report.json"
    if previous.exists() and not cfg.get("resume", False):
        raise NasError(
            f"{run_dir} already holds the results of an earlier run; nothing was overwritten.\n"
            f"Choose another directory (hydra.run.dir=...) or, for `nas search`, continue it with resume=true."
        )


def user_message(exc: BaseException) -> str | None:
    """The message for an exception that is the user's mistake, or None for a bug."""
    if isinstance(exc, NasError):
        return str(exc)
    if isinstance(exc, MissingMandatoryValue):
        return f"A required value is missing: {exc.full_key}. Give it on the command line, e.g. {exc.full_key}=<value>."
    if isinstance(exc, InterpolationResolutionError):
        return f"A config value could not be resolved: {exc}"
    return None


def _print_error(command: str, message: str) -> None:
    """A red panel on a terminal; plain unwrapped lines in logs and pipes (paths stay greppable)."""
    console = Console(stderr=True)
    if console.is_terminal:
        console.print(Panel(message, title=f"nas {command}: error", border_style="red", expand=False))
    else:
        console.print(f"nas {command}: error: {message}", soft_wrap=True, markup=False, highlight=False)


def run_command(command: str, cfg: DictConfig) -> int:
    """Run `nas <command>` with its composed config; returns the process exit code."""
    from rich import get_console

    run_dir, argv = _hydra_run_dir_and_argv()
    console = get_console()
    report = Report(run_dir, command, argv)
    code, owns_report = 0, False
    try:
        _guard_run_dir(run_dir, command, cfg)
        report.write()
        owns_report = True
        module = importlib.import_module(f"nascli.commands.{command.replace('-', '_')}")
        module.run(RunContext(command, cfg, run_dir, report, console))
        report.status = "completed"
    except KeyboardInterrupt:
        report.status, report.error, code = "interrupted", "interrupted by the user (Ctrl-C)", 130
        console.print("[yellow]Interrupted.[/] What was written so far is kept; `resume=true` continues a search.")
    except Exception as exc:  # noqa: BLE001 - user mistakes become messages, bugs propagate
        message = user_message(exc)
        report.status, report.error = "failed", message or f"{type(exc).__name__}: {exc}"
        if message is None:
            raise
        code = exc.exit_code if isinstance(exc, NasError) else ConfigError.exit_code
        _print_error(command, message)
    finally:
        if owns_report:
            report.finished = now_iso()
            report.write()
    return code
