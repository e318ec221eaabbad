"""The sample-based search loop: ask the strategy, score with the evaluator and hardware target,
tell the objective back, record the trial; stop on the trial or time budget."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from nascli.errors import CheckpointError
from nascli.evaluators.base import Evaluator
from nascli.hardware.target import HardwareTarget
from nascli.search.trials import TrialLog
from nascli.spaces.base import SearchSpace
from nascli.strategies.base import Strategy

log = logging.getLogger("nascli.search")


@dataclass
class Budget:
    """Stop after `trials` evaluated candidates or `seconds` of search, whichever comes first."""

    trials: int | None = None
    seconds: float | None = None

    def exhausted(self, trials_done: int, elapsed_s: float) -> str | None:
        if self.trials is not None and trials_done >= self.trials:
            return "trials"
        if self.seconds is not None and elapsed_s >= self.seconds:
            return "seconds"
        return None


def replay(strategy: Strategy, space: SearchSpace, trials: TrialLog) -> None:
    """Bring a fresh strategy to the state it had after the recorded trials (for resume)."""
    for row in trials.rows:
        arch = strategy.ask()
        if space.to_str(arch) != row["arch_str"]:
            raise CheckpointError(
                f"Trial {row['trial']} of the checkpoint does not replay with this strategy and seed "
                f"(expected {row['arch_str']}, got {space.to_str(arch)}); was the code or config changed?"
            )
        strategy.tell(arch, _objective(row))


def _objective(row: dict[str, Any]) -> float:
    value = row.get("objective")
    return -math.inf if value is None else float(value)


def _progress(console: Any) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("best {task.fields[best]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=console, transient=False,
    )


def run_sample_search(
    space: SearchSpace,
    strategy: Strategy,
    evaluator: Evaluator,
    hardware: HardwareTarget,
    budget: Budget,
    trials: TrialLog,
    on_trial: Any,
    console: Any,
) -> str:
    """Run until the budget is spent; `on_trial()` is called after each trial (checkpointing).

    budget.seconds counts wall-clock seconds, or the evaluator's reported cost_s when its cost is
    simulated (a tabular benchmark's training time); elapsed_s in the rows is always wall-clock.
    """
    start = time.perf_counter() - trials.elapsed_s
    metric = evaluator.objective_metric

    def spent() -> float:
        if evaluator.simulated_cost:
            return sum(float(row.get("cost_s") or 0.0) for row in trials.rows)
        return time.perf_counter() - start

    total = budget.trials if budget.trials is not None else None
    stopped_by = budget.exhausted(len(trials), spent())
    with _progress(console) as progress:
        task = progress.add_task("search", total=total, completed=len(trials), best=_best_text(trials))
        while stopped_by is None:
            arch = strategy.ask()
            metrics = evaluator.evaluate(arch)
            if "params_m" not in metrics or hardware.latency:
                model = space.build_network(arch, *evaluator.network_shape())
                metrics = {**hardware.measure(model, evaluator.input_shape()), **metrics}
            objective = hardware.objective(metrics, metric)
            strategy.tell(arch, objective)
            status = "completed" if hardware.feasible(metrics) and not math.isnan(metrics[metric]) else (
                "infeasible" if not hardware.feasible(metrics) else "failed")
            row = trials.add({
                "arch_str": space.to_str(arch), "status": status,
                "objective": objective if math.isfinite(objective) else None,
                **metrics, "elapsed_s": time.perf_counter() - start,
            })
            log.info("trial %d  %s  %s=%.4g  objective=%s", row["trial"], row["arch_str"], metric,
                     metrics[metric], f"{objective:.3f}")
            on_trial()
            progress.update(task, advance=1, best=_best_text(trials))
            stopped_by = budget.exhausted(len(trials), spent())
    return stopped_by


def _best_text(trials: TrialLog) -> str:
    best = trials.best()
    return "-" if best is None else f"{best['objective']:.2f}"
