"""The search engine: one loop that runs every strategy, sample-based and one-shot alike.

It owns what is common to all of them: the budget, the trial record (trials.csv), cost and the
objective through the hardware target (constraints included), checkpoint and resume, the progress
bar, and the files of the run directory. A strategy only proposes and hears objectives; an
evaluator only scores (see nascli.strategies.base for the contract).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from nascli.errors import NasError
from nascli.evaluators.base import Evaluator
from nascli.runtime.console import progress
from nascli.runtime.files import write_json, write_text
from nascli.runtime.report import Report
from nascli.search import results
from nascli.search.budget import Budget
from nascli.search.resume import STATE_FILE, load_state, replay, save_state
from nascli.search.trials import TrialLog
from nascli.spaces.base import SearchSpace
from nascli.strategies.base import Artifacts, Proposal, SearchContext, Strategy

log = logging.getLogger("nascli.search")


@dataclass
class SearchRun:
    """Where a search writes and what it must resume with (everything but the budget)."""

    run_dir: Path
    fingerprint: dict[str, Any]
    console: Console
    plots: bool = True


class SearchEngine:
    """Runs `strategy` on `space`, scoring with `evaluator` and `hardware`, within `budget`."""

    def __init__(self, space: SearchSpace, strategy: Strategy, evaluator: Evaluator, hardware: Any, budget: Budget,
                 context: SearchContext, run: SearchRun) -> None:
        self.space, self.strategy, self.evaluator, self.hardware = space, strategy, evaluator, hardware
        self.budget, self.context, self.run_dir = budget, context, Path(run.run_dir)
        self.fingerprint, self.console, self.plots = run.fingerprint, run.console, run.plots
        self.trials = TrialLog(self.run_dir)
        # a one-shot strategy's own measurements are validation accuracies; otherwise the evaluator's metric
        self.metric = "val_accuracy" if strategy.measures_candidates else evaluator.objective_metric
        # budget.seconds counts a tabular benchmark's training time instead of our wall-clock
        self.simulated = evaluator.simulated_cost and not strategy.measures_candidates
        self._start = time.perf_counter()

    # --- the loop --------------------------------------------------------------------------------
    def run(self, resume: bool = False) -> str:
        """Search until the budget or the strategy's schedule ends; returns what stopped it."""
        self.strategy.setup(self.context)
        if resume:
            self._resume()
        self._start = time.perf_counter() - self.trials.elapsed_s
        stopped_by = self._exhausted()
        with progress(self.console) as bar:
            task = bar.add_task(self.strategy.name or type(self.strategy).__name__, total=self._total(),
                                completed=len(self.trials), info=self._best_text())
            while stopped_by is None:
                began = time.perf_counter()
                proposal = self.strategy.propose()
                if proposal is None:
                    stopped_by = self.strategy.stop_reason or "schedule"
                    break
                row = self._record(proposal, began)
                objective = row["objective"]
                self.strategy.tell(proposal.arch, -math.inf if objective is None else objective)
                self._checkpoint()
                bar.update(task, advance=1, info=f"{self._best_text()}  {proposal.info}".rstrip())
                stopped_by = self._exhausted()
        return stopped_by

    def _total(self) -> int | None:
        sizes = [n for n in (self.strategy.steps(), self.budget.trials) if n is not None]
        return min(sizes) if sizes else None

    def _spent(self) -> float:
        if self.simulated:
            return sum(float(row.get("cost_s") or 0.0) for row in self.trials.rows)
        return time.perf_counter() - self._start

    def _exhausted(self) -> str | None:
        return self.budget.exhausted(len(self.trials), self._spent())

    def _best_text(self) -> str:
        best = self.trials.best()
        return "best -" if best is None else f"best {best['objective']:.2f}"

    # --- one trial ------------------------------------------------------------------------------
    def _record(self, proposal: Proposal, began: float) -> dict[str, Any]:
        """Score (unless the strategy measured it), cost and constrain one proposal, and record it."""
        measured = proposal.metrics is not None
        metrics = dict(proposal.metrics) if measured else self.evaluator.evaluate(proposal.arch)
        if "params_m" not in metrics or self.hardware.latency:
            num_classes, channels, size = self._network_shape(measured)
            model = self.space.build_network(proposal.arch, num_classes, channels, size)
            metrics = {**self.hardware.measure(model, (channels, size, size)), **metrics}
        objective = self.hardware.objective(metrics, self.metric)
        feasible = self.hardware.feasible(metrics)
        status = "completed" if feasible and not math.isnan(metrics[self.metric]) else (
            "infeasible" if not feasible else "failed")
        cost = metrics.pop("cost_s", None)
        row = self.trials.add({
            "arch_str": self.space.to_str(proposal.arch), "status": status,
            "objective": objective if math.isfinite(objective) else None, **metrics,
            "cost_s": time.perf_counter() - began if cost is None else cost, **proposal.columns,
            "elapsed_s": time.perf_counter() - self._start,
        })
        log.info("trial %d  %s  %s=%.4g  objective=%s", row["trial"], row["arch_str"], self.metric,
                 metrics[self.metric], f"{objective:.3f}")
        return row

    def _network_shape(self, measured: bool) -> tuple[int, int, int]:
        """(num_classes, in_channels, input_size) of the networks whose cost is measured: the
        searched data's for a one-shot strategy, else the evaluator's (a table names its task's)."""
        if not measured:
            return self.evaluator.network_shape()
        data = self.context.data
        return data.num_classes, data.in_channels, data.input_size

    # --- checkpoint and resume --------------------------------------------------------------------
    def _checkpoint(self) -> None:
        """trials.csv and checkpoint.json; checkpoint.pt for a strategy with state; its files."""
        self.trials.save(self.fingerprint)
        if self.strategy.resumes_from_state:
            save_state(self.run_dir, self.fingerprint, self.trials.rows, self.strategy.state_dict())
        self._write(self.strategy.artifacts(self.trials.rows, final=False))

    def _resume(self) -> None:
        if self.strategy.resumes_from_state:
            rows, state = load_state(self.run_dir, self.fingerprint)
            self.trials.rows = rows
            self.strategy.load_state_dict(state)
        else:
            self.trials.load(self.fingerprint)
            replay(self.strategy, self.space, self.trials.rows)
        self.console.print(f"Resuming from trial {len(self.trials)} in {self.run_dir}.")

    def _write(self, artifacts: Artifacts, final: bool = False) -> list[str]:
        """Write a strategy's files (and, at the end, its plots); returns the names written."""
        for name, content in artifacts.files.items():
            (write_text if isinstance(content, str) else write_json)(self.run_dir / name, content)
        drawn = []
        if final and self.plots:
            for name, draw in artifacts.plots.items():
                draw(self.run_dir / name)
                drawn.append(name)
        return [*artifacts.files, *drawn]

    # --- the end ------------------------------------------------------------------------------------
    def finish(self, stopped_by: str, report: Report) -> dict[str, Any]:
        """Write genotype.json, the plots, the strategy's files and the report; print the summary.
        Returns the result row."""
        rows = self.trials.rows
        best = self.strategy.choose(rows) or self.trials.best()
        if best is None:
            raise NasError("No candidate could be scored (every trial failed or was infeasible); nothing to write.")
        files = results.write(self.run_dir, self.space, self.trials, best, self.metric, stopped_by, report, self.plots)
        artifacts = self.strategy.artifacts(rows, final=True) if rows else Artifacts()
        files += self._write(artifacts, final=True) + ([STATE_FILE] if self.strategy.resumes_from_state else [])
        # a section that shows pictures is kept only when they were drawn
        report.sections.extend((title, body) for title, body in artifacts.sections
                               if self.plots or not any(f"({name})" in body for name in artifacts.plots))
        results.print_summary(self.console, best, rows, self.metric, stopped_by, self.run_dir)
        return best
