"""What a one-shot strategy (DARTS, PC-DARTS, GDAS, SPOS, ENAS) gets from `nas search`.

The strategy trains its supernet and reports, every epoch, the architecture it would derive
then; this object records those rows (trials.csv), scores cost through the hardware target,
keeps the resume checkpoint, and tells the strategy when the budget is spent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from nascli.errors import CheckpointError
from nascli.hardware.target import HardwareTarget
from nascli.runtime.files import torch_save
from nascli.search.loop import Budget
from nascli.search.trials import TrialLog
from nascli.spaces.base import Arch, SearchSpace

CHECKPOINT = "checkpoint.pt"


class OneShotRun:
    """The search run as a one-shot strategy sees it."""

    def __init__(self, space: SearchSpace, data: Any, device: Any, seed: int, hardware: HardwareTarget,
                 budget: Budget, trials: TrialLog, fingerprint: dict[str, Any], run_dir: Path,
                 resume: bool, console: Any, evaluator: Any = None) -> None:
        self.space, self.data, self.device, self.seed = space, data, device, seed
        self.hardware, self.budget, self.trials, self.fingerprint = hardware, budget, trials, fingerprint
        self.run_dir, self.resume, self.console = Path(run_dir), resume, console
        self.evaluator = evaluator  # for strategies that score sampled subnets (SPOS), else None
        self.chosen: dict[str, Any] | None = None
        self.report_sections: list[tuple[str, str]] = []  # (title, markdown) the strategy adds to report.md
        self.report_files: list[str] = []  # files the strategy wrote into the run directory
        self._start, self._offset = time.perf_counter(), 0.0

    # --- time and budget ----------------------------------------------------------------
    def elapsed_s(self) -> float:
        """Seconds of search so far, including the time before a resume."""
        return self._offset + time.perf_counter() - self._start

    def should_stop(self) -> str | None:
        """'trials' or 'seconds' once the budget is spent (rows count as trials), else None."""
        return self.budget.exhausted(len(self.trials), self.elapsed_s())

    # --- rows -----------------------------------------------------------------------------
    def record(self, arch: Arch, metrics: dict[str, float], cost_s: float, **extra: Any) -> dict[str, Any]:
        """Add a trials.csv row for `arch` (metrics need val_accuracy, percent) and save the table."""
        input_shape = (self.data.in_channels, self.data.input_size, self.data.input_size)
        model = self.space.build_network(arch, self.data.num_classes, self.data.in_channels, self.data.input_size)
        metrics = {**self.hardware.measure(model, input_shape), **metrics}
        objective = self.hardware.objective(metrics)
        status = "completed" if math.isfinite(objective) else ("infeasible" if not self.hardware.feasible(metrics) else "failed")
        row = self.trials.add({
            "arch_str": self.space.to_str(arch), "status": status,
            "objective": objective if math.isfinite(objective) else None,
            **metrics, "cost_s": cost_s, **extra, "elapsed_s": self.elapsed_s(),
        })
        self.trials.save(self.fingerprint)
        return row

    def choose(self, row: dict[str, Any]) -> None:
        """Declare the search's result (default: the row with the best objective)."""
        self.chosen = row

    # --- resume -----------------------------------------------------------------------------
    def save_state(self, state: dict[str, Any]) -> None:
        """Save the strategy's state (tensors and plain containers only) with the rows so far."""
        torch_save(self.run_dir / CHECKPOINT, {"fingerprint": self.fingerprint, "rows": self.trials.rows, "state": state})

    def load_state(self) -> dict[str, Any] | None:
        """The state saved by save_state when resuming, else None; restores the rows too."""
        if not self.resume:
            return None
        import torch

        path = self.run_dir / CHECKPOINT
        if not path.exists():
            raise CheckpointError(f"resume=true, but {self.run_dir} holds no one-shot checkpoint ({CHECKPOINT}).")
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user-facing problem
            raise CheckpointError(f"{path} is not a readable search checkpoint ({type(exc).__name__}).") from None
        if saved.get("fingerprint") != self.fingerprint:
            raise CheckpointError(f"The checkpoint in {self.run_dir} was written by a search with other settings; "
                                  "resume with the same settings (only budget.* may change).")
        self.trials.rows = list(saved["rows"])
        self._start, self._offset = time.perf_counter(), self.trials.elapsed_s
        return saved["state"]

    # --- progress ---------------------------------------------------------------------------
    @contextmanager
    def progress(self, total: int, description: str = "search") -> Iterator[Any]:
        """A rich progress bar with ETA; yields `advance(**fields)`."""
        columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
        with Progress(*columns, console=self.console) as bar:
            task = bar.add_task(description, total=total, completed=len(self.trials), info="")

            def advance(info: str = "") -> None:
                bar.update(task, advance=1, info=info)

            yield advance
