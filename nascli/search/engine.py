"""The search engine: one loop that runs every strategy, sample-based and one-shot alike.

It owns what is common to all of them: the budget, the trial record (trials.csv), cost through the
hardware target's profiler and the objective through its objective (constraints included),
checkpoint and resume, the progress bar, and the files of the run directory. A strategy only
proposes and hears objectives; an evaluator only scores (see nascli.strategies.base for the
contract). The parts come assembled and settled (nascli.search.assembly): the engine builds none.

Who evaluates is an executor (nascli.search.executors): this process, one candidate at a time, by
default; with search.workers=N, N workers, the engine asking while one is free and recording each
result as it arrives. The concurrency is the executor's; what is in flight, nascli.search.flight's.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from nascli.data.datasets import DataShape
from nascli.errors import ConfigError, DivergedError, NasError
from nascli.evaluators.base import Evaluator
from nascli.hardware.objective import Told
from nascli.hardware.target import HardwareTarget
from nascli.runtime import metrics
from nascli.runtime.console import progress
from nascli.runtime.files import write_json, write_text
from nascli.runtime.run_report import RunReport
from nascli.search import results
from nascli.search.budget import Budget, schedule_record
from nascli.search.executors.base import Executor, InProcess, Job, Outcome
from nascli.search.flight import InFlight, Pending
from nascli.search.resume import STATE_FILE, load_state, replay, save_state
from nascli.search.trials import TrialLog
from nascli.spaces.base import Arch, SearchSpace
from nascli.strategies.base import WAIT, Artifacts, Proposal, SearchContext, Strategy

log = logging.getLogger("nascli.search")
SKIPPED = "_skipped"   # a row's mark: rejected by a hard limit before evaluation (spent no budget)
MAX_REJECTED = 1000    # rejected proposals in a row before the search says nothing feasible is found
COSTS = ("params_m", "flops_m", "latency_ms", "latency_iqr_ms")  # what cost profilers measure


@dataclass
class SearchRun:
    """Where a search writes and what it must resume with (run_state.fingerprint of its config)."""

    run_dir: Path
    fingerprint: dict[str, Any]
    console: Console
    plots: bool = True
    on_trial: Callable[[dict[str, Any]], None] | None = None  # each new trials.csv row (experiment loggers)
    writes: bool = True  # False: no run files (a data-parallel search's processes but rank 0; a benchmark reading rows)
    executor: Executor | None = None  # who evaluates candidates (nascli.search.executors); None: this process, one at a time
    retries: int = 0                  # search.retries: times a candidate whose worker was lost runs again
    cancel_on_stop: bool = False      # search.cancel_on_stop: budget.seconds cancels what is in flight


class SearchEngine:
    """Runs `strategy` on `space`, scoring with `evaluator`, costing with `hardware`'s profiler and
    judging with its objective, within `budget`; `context` is what the strategy is set up with."""

    def __init__(self, space: SearchSpace, strategy: Strategy, evaluator: Evaluator, hardware: HardwareTarget,
                 budget: Budget, context: SearchContext, run: SearchRun) -> None:
        self.space, self.strategy, self.evaluator, self.hardware = space, strategy, evaluator, hardware
        self.profiler, self.objective = hardware.profiler, hardware.objective
        self.budget, self.context, self.run_dir = budget, context, Path(run.run_dir)
        self.fingerprint, self.console, self.plots = run.fingerprint, run.console, run.plots
        self.on_trial, self.writes = run.on_trial, run.writes
        self.trials = TrialLog(self.run_dir)
        self._metric: str | None = None  # see metric
        if not strategy.measures_candidates:  # what the rows' objective is, for the strategy's choose and files
            context.metric = evaluator.objective_metric
        # budget.seconds counts a tabular benchmark's training time instead of our wall-clock
        self.simulated = evaluator.simulated_cost and not strategy.measures_candidates
        self.rejections: Counter[str] = Counter()  # candidates over each hard limit
        self.executor = run.executor if run.executor is not None else InProcess(evaluator)
        self.retries, self.cancel_on_stop = run.retries, run.cancel_on_stop
        # trials.csv records who ran each candidate and when, with workers besides this process
        self.parallel = not isinstance(self.executor, InProcess)
        self.flight = InFlight(self.executor.workers)
        self._start = time.perf_counter()
        self._clock0 = self.executor.now()
        self._rejected_in_a_row = 0
        self._checkpointed_asks = -1  # the proposals asked when checkpoint.json was last written
        budget.check(self._strategy_name(), strategy.steps())
        self._check_concurrent()

    @property
    def metric(self) -> str:
        """The metric the objective is made of: the evaluator's, or for a one-shot strategy, which
        measures its candidates on the searched data, the data's own (val_accuracy; a language
        corpus's val_perplexity), read once the strategy has it loaded."""
        if not self.strategy.measures_candidates:
            return self.evaluator.objective_metric
        if self._metric is None:
            self._metric = metrics.objective_metric(self.context.data)
        return self._metric

    # --- the loop --------------------------------------------------------------------------------
    def run(self, resume: bool = False) -> str:
        """Search until the budget or the strategy's schedule ends; returns what stopped it.

        Ask while a worker is free, wait for the next result, record it and tell the strategy; with
        one worker (the default) that is ask, evaluate, record, tell."""
        self.strategy.setup(self.context)
        again = self._resume() if resume else []
        self._start = time.perf_counter() - self.trials.elapsed_s
        self._clock0 = self.executor.now() - self.trials.elapsed_s
        self._check_satisfiable()
        cut = self.budget.cuts(self._strategy_name(), self.strategy.steps(), self._counted(),
                               self.strategy.schedule_text())
        if cut is not None:
            self.console.print(f"[yellow]Note:[/] {cut}", soft_wrap=True)
            log.warning(cut)
        stopped_by = self._exhausted()
        with progress(self.console) as self._bar, self.executor:
            self._task = self._bar.add_task(self._strategy_name(), total=self._total(),
                                            completed=self._counted(), info=self._best_text())
            for pending in again:  # proposals in flight when the search was stopped run again
                self.executor.submit(self._job(pending))
            while True:
                while stopped_by is None and self.flight.has_room():
                    began = time.perf_counter()
                    proposal = self.strategy.propose()
                    if proposal is None:
                        stopped_by = self.strategy.stop_reason or "schedule"
                    elif proposal is WAIT:
                        self._check_waiting()
                        break
                    else:
                        self._check_losses(proposal)
                        self._ask(proposal, began)
                        stopped_by = self._exhausted()
                if not self.flight:
                    break
                if stopped_by == "seconds" and self.cancel_on_stop:
                    self._cancel()
                    break
                if self.parallel and self.flight.asked != self._checkpointed_asks:
                    self._checkpoint()  # with the proposals now in flight, which a resume runs again
                self._arrived(self.executor.next())
                stopped_by = stopped_by or self._exhausted()
        return stopped_by

    def _strategy_name(self) -> str:
        return self.strategy.name or type(self.strategy).__name__

    def _check_losses(self, proposal: Proposal) -> None:
        """A DivergedError when a one-shot strategy's supernet loss became nan or inf this epoch: the
        search ends before recording it, so trials.csv and the checkpoint stay at the last good epoch."""
        bad = [(key, value) for key in ("train_loss", "val_loss")
               if isinstance(value := proposal.columns.get(key), float) and not math.isfinite(value)]
        if not bad:
            return
        (key, value), name = bad[0], self._strategy_name()
        raise DivergedError(
            f"The supernet's {key.replace('_', ' ')} became {value} in epoch {proposal.columns.get('epoch', '?')} of "
            f"strategy {name}; the search stopped, and its trials and checkpoint up to the epoch before are kept. "
            f"{self.strategy.divergence_advice()}")

    def _check_concurrent(self) -> None:
        """A strategy that cannot have several proposals in flight (one-shot: one supernet trained
        epoch by epoch) is refused more than one worker, with the way to spread it over GPUs."""
        if self.executor.workers > 1 and not self.strategy.concurrent:
            name = self._strategy_name()
            raise ConfigError(
                f"search.workers={self.executor.workers}: strategy {name} trains one supernet epoch by epoch, so it "
                f"has one candidate in flight at a time and cannot use several workers. Spread its training over "
                f"GPUs with a data-parallel search instead: torchrun --nproc_per_node={self.executor.workers} -m "
                f"nascli search strategy={name} ... (search.workers=1).")

    def _counted(self) -> int:
        """Trials that spent budget: all but the candidates rejected before evaluation."""
        return sum(1 for row in self.trials.rows if not row.get(SKIPPED))

    def _total(self) -> int | None:
        sizes = [n for n in (self.strategy.steps(), self.budget.trials) if n is not None]
        return min(sizes) if sizes else None

    def _elapsed(self) -> float:
        """Seconds of search so far on the executor's clock (a simulated one's, or the wall's)."""
        return self.executor.now() - self._clock0

    def _spent(self) -> float:
        """What budget.seconds counts: a benchmark's training time (simulated), else elapsed time."""
        if self.simulated and not self.executor.simulated:
            return sum(float(row.get("cost_s") or 0.0) for row in self.trials.rows)
        return self._elapsed()

    def _exhausted(self) -> str | None:
        """What stops proposing: the trials done and in flight, or the time spent."""
        return self.budget.exhausted(self._counted() + len(self.flight), self._spent())

    def _best_text(self) -> str:
        """The best objective so far, for the progress bar; a reward with its metric beside it."""
        best = self.trials.best(metric=self.metric)
        if best is None:
            return "best -"
        if self.objective.reward(self.metric) is None:
            if metrics.lower_is_better(self.metric):  # said, so that a falling number reads as progress
                return f"best {self.metric} {best['objective']:.2f} (lower is better)"
            return f"best {best['objective']:.2f}"
        return f"best reward {best['objective']:.2f} ({self.metric} {best.get(self.metric, float('nan')):.2f})"

    # --- one trial ------------------------------------------------------------------------------
    def _ask(self, proposal: Proposal, began: float) -> None:
        """Put a proposal in flight: cost and constrain it first, then (unless the strategy measured
        it) submit it to a worker. A measured candidate, or one over a hard limit whose cost is known
        before training (never evaluated, spending no budget), is recorded and told at once."""
        pending = self.flight.ask(proposal, began)
        if proposal.metrics is not None:
            self._told(pending, {**self._cost(proposal.arch, True, {}), **proposal.metrics})
            return
        known = self.evaluator.known_cost(proposal.arch)
        if self.objective.limited:  # cost first: a candidate over a limit is never evaluated
            known = self._cost(proposal.arch, False, known)
            if self.objective.violations(known):
                self._told(pending, known, rejected=True)
                return
        pending.known = known
        self.executor.submit(self._job(pending))

    def _job(self, pending: Pending) -> Job:
        return Job(pending.proposed, pending.proposal.arch, pending.proposal.fidelity)

    def _arrived(self, outcome: Outcome) -> None:
        """Record and tell a result from a worker. A candidate whose worker was lost runs again, up
        to search.retries times, then is recorded as failed with the reason; an evaluator's error
        (a candidate it refuses) ends the search as it would in one process."""
        if outcome.error is not None:
            raise outcome.error
        pending = self.flight.pending[outcome.ticket]
        metrics = outcome.metrics
        if outcome.lost is not None:
            pending.attempts += 1
            where = f"{self.space.to_str(pending.proposal.arch)} (worker {outcome.worker})"
            if pending.attempts <= self.retries:
                log.warning("%s was lost (%s); trying again (%d of search.retries=%d)", where, outcome.lost,
                            pending.attempts, self.retries)
                self.executor.submit(self._job(pending))
                return
            log.warning("%s was lost (%s) %d time(s); recorded as failed", where, outcome.lost, pending.attempts)
            metrics = {self.metric: math.nan, "_failure": "failed",
                       "error": f"its worker was lost {pending.attempts} time(s): {outcome.lost}"}
        elif "_failure" in metrics:
            log.warning("trial %d  %s  %s: %s", len(self.trials), self.space.to_str(pending.proposal.arch),
                        metrics["_failure"], metrics.get("error"))
        known = {**pending.known, **{k: v for k, v in metrics.items() if k in COSTS}}
        self._told(pending, {**self._cost(pending.proposal.arch, False, known), **metrics}, outcome=outcome)

    def _told(self, pending: Pending, metrics: dict[str, Any], rejected: bool = False,
              outcome: Outcome | None = None) -> None:
        """Record a finished proposal (trials.csv, checkpoint, loggers, progress) and tell the strategy."""
        self.flight.told_of(pending.proposed)
        row, told = (self._reject if rejected else self._record)(pending, metrics, outcome)
        self.strategy.tell(pending.proposal.arch, told)
        self._checkpoint()
        if self.on_trial is not None:
            self.on_trial(row)
        self._rejected_in_a_row = self._rejected_in_a_row + 1 if row.get(SKIPPED) else 0
        if self._rejected_in_a_row >= MAX_REJECTED:
            raise NasError(self._nothing_feasible(self._rejected_in_a_row))
        self._bar.update(self._task, completed=self._counted(),
                         info=f"{self._best_text()}  {pending.proposal.info}".rstrip())

    def _record(self, pending: Pending, metrics: dict[str, Any], outcome: Outcome | None) -> tuple[dict[str, Any], Told]:
        """The row of a measured or evaluated candidate, and what the strategy is told."""
        proposal = pending.proposal
        failure = metrics.pop("_failure", None)  # how a candidate that could not be scored failed
        objective = self.objective.value(metrics, self.metric)
        violations = self.objective.violations(metrics)
        self.rejections.update(violations)
        status = ("infeasible" if violations else failure if failure else "diverged" if "error" in metrics
                  else "failed" if math.isnan(metrics[self.metric]) else "completed")
        spent = metrics.pop("cost_s", None)
        if spent is None:  # the evaluator's own training time, else the time it took here
            spent = outcome.finished - outcome.started if outcome is not None and self.parallel \
                else time.perf_counter() - pending.began
        row = self.trials.add({
            "arch_str": self.space.to_str(proposal.arch), "status": status, **self._columns(proposal),
            "objective": objective if math.isfinite(objective) else None, **metrics,
            "cost_s": spent, **proposal.columns, "elapsed_s": self._elapsed(), **self._placed(pending, outcome),
        })
        log.info("trial %d  %s  %s=%.4g  objective=%s", row["trial"], row["arch_str"], self.metric,
                 metrics[self.metric], f"{objective:.3f}")
        return row, self.objective.told(metrics, self.metric)

    def _reject(self, pending: Pending, cost: dict[str, float], outcome: Outcome | None) -> tuple[dict[str, Any], Told]:
        """Record a candidate over a hard limit, unevaluated; the strategy is told it failed."""
        proposal = pending.proposal
        violations = self.objective.violations(cost)
        self.rejections.update(violations)
        row = self.trials.add({
            "arch_str": self.space.to_str(proposal.arch), "status": "infeasible", **self._columns(proposal),
            "objective": None, **cost,
            "cost_s": 0.0 if self.simulated else time.perf_counter() - pending.began, **proposal.columns,
            "elapsed_s": self._elapsed(), **self._placed(pending, None), SKIPPED: True,
        })
        log.info("trial %d  %s  infeasible before evaluation (%s)", row["trial"], row["arch_str"], ", ".join(violations))
        return row, self.objective.told(cost, self.metric)

    def _placed(self, pending: Pending, outcome: Outcome | None) -> dict[str, Any]:
        """With several workers, trials.csv's record of who ran a candidate and when (on the
        search's clock), and when it was asked (what a resume replays by); nothing with one."""
        if not self.parallel:
            return {}
        when = {"worker": None, "started_s": None, "finished_s": None} if outcome is None else {
            "worker": outcome.worker, "started_s": outcome.started - self._clock0,
            "finished_s": outcome.finished - self._clock0}
        return {**when, **self.flight.order(pending)}

    def _check_waiting(self) -> None:
        """WAIT means 'ask again when a proposal in flight is told': with none in flight, never."""
        if not self.flight:
            raise NasError(f"strategy {self._strategy_name()} answered WAIT with no proposal in flight, so it would "
                           "wait forever: a bug in the strategy (see nascli.strategies.base).")

    def _cancel(self) -> None:
        """budget.seconds with search.cancel_on_stop: stop what is in flight (kept in the checkpoint,
        so a resume with more budget runs it again)."""
        cancelled = self.executor.cancel()
        self.console.print(f"budget.seconds is spent: {len(cancelled)} candidate(s) in flight cancelled "
                           "(search.cancel_on_stop=true).")
        self._checkpoint()

    def _columns(self, proposal: Proposal) -> dict[str, Any]:
        """trials.csv's `fidelity` (epochs trained, when fewer than the full training may be), and
        the training hyper-parameters a joint search's candidate chose (hp_<name>)."""
        fidelity = {} if proposal.fidelity is None else {"fidelity": proposal.fidelity}
        return {**fidelity, **{f"hp_{k}": v for k, v in self.space.training(proposal.arch).items()}}

    def _cost(self, arch: Arch, measured: bool, known: dict[str, float]) -> dict[str, float]:
        """What `arch` costs without training: what is `known` already (a table's params and FLOPs),
        and what the profiler measures besides."""
        needed = {"params_m", "flops_m", *(("latency_ms",) if self.profiler.latency else ())}
        if needed <= known.keys():
            return dict(known)
        return self.profiler.measure(self.space, arch, self._network_shape(measured), known)

    def _check_satisfiable(self) -> None:
        """Refuse at once limits that even the space's smallest candidate breaks: nothing can meet them."""
        smallest = self.space.smallest() if self.objective.limited else None
        if smallest is None:
            return
        cost = self._cost(smallest, self.strategy.measures_candidates, self.evaluator.known_cost(smallest))
        broken = self.objective.violations(cost)
        if broken:
            self.rejections.update(broken)
            raise NasError(self._nothing_feasible(0))

    def _nothing_feasible(self, proposals: int) -> str:
        """Which limit binds, and what the smallest candidate of the space costs."""
        binding, count = self.rejections.most_common(1)[0]
        key = binding.removeprefix("max_")
        limit = self.objective.limits[key]
        text = (f"No feasible candidate: hardware.{binding}={limit:g} binds" + (
            f" ({count} of the last {proposals} proposals over it)." if proposals else "."))
        smallest = self.space.smallest()
        if smallest is not None:
            cost = self._cost(smallest, self.strategy.measures_candidates, self.evaluator.known_cost(smallest))
            text += (f" The smallest candidate of the {self.space.name} space costs {cost.get(key, float('nan')):.4g} "
                     f"({key}): {self.space.to_str(smallest)}.")
        return text + f" Raise hardware.{binding}, or search a smaller space (search_space.* options)."

    def _network_shape(self, measured: bool) -> DataShape:
        """(num_classes, in_channels, input_size) of the networks whose cost is measured: the
        searched data's for a one-shot strategy, else the evaluator's (a table names its task's)."""
        return self.context.data.shape if measured else self.evaluator.network_shape()

    # --- checkpoint and resume --------------------------------------------------------------------
    def _checkpoint(self) -> None:
        """trials.csv and checkpoint.json (with several workers, the proposals in flight too);
        checkpoint.pt for a strategy with state; its files."""
        if not self.writes:
            return
        self.trials.save(self.fingerprint, self.flight.record(self._described) if self.parallel else None)
        self._checkpointed_asks = self.flight.asked
        if self.strategy.resumes_from_state:
            save_state(self.run_dir, self.fingerprint, self.trials.rows, self.strategy.state_dict())
        self._write(self.strategy.artifacts(self.trials.rows, final=False))

    def _described(self, proposal: Proposal) -> dict[str, Any]:
        return {"arch_str": self.space.to_str(proposal.arch), "fidelity": proposal.fidelity}

    def _resume(self) -> list[Pending]:
        """Bring the strategy back to where the search stopped; returns the proposals that were in
        flight then, asked again (they run again)."""
        again: list[Pending] = []
        if self.strategy.resumes_from_state:
            rows, state = load_state(self.run_dir, self.fingerprint)
            self.trials.rows = rows
            self.strategy.load_state_dict(state)
        else:
            saved = self.trials.load(self.fingerprint)
            pending = saved.get("pending") or []
            asked = replay(self.strategy, self.space, self.trials.rows,
                           lambda row: self.objective.told(row, self.metric), pending)
            self.flight = InFlight(self.executor.workers, asked=len(self.trials) + len(pending), told=len(self.trials))
            for record, proposal in zip(pending, asked):
                known = self.evaluator.known_cost(proposal.arch)
                known = self._cost(proposal.arch, False, known) if self.objective.limited else known
                again.append(self.flight.resume(proposal, record, time.perf_counter(), known))
        for row in self.trials.rows:
            self.rejections.update(self.objective.violations(row))
        in_flight = f", running again the {len(again)} candidate(s) that were in flight" if again else ""
        self.console.print(f"Resuming from trial {len(self.trials)} in {self.run_dir}{in_flight}.")
        return again

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
    def finish(self, stopped_by: str, report: RunReport) -> dict[str, Any]:
        """Write genotype.json, the plots, the strategy's files and the report; print the summary.
        Returns the result row."""
        rows = self.trials.rows
        final = results.top_fidelity(rows)  # a multi-fidelity search compares at the highest fidelity reached
        cost_metric = self.objective.cost_metric
        front = results.pareto_front(final, self.metric, cost_metric) if self.objective.pareto else None
        best = self.strategy.choose(final) or (
            results.choose(front, self.metric, cost_metric, self.objective.choose) if front
            else self.trials.best(final, self.metric))
        if best is None:
            raise NasError("No candidate could be scored (every trial failed or was infeasible); nothing to write.")
        files = results.write(self.run_dir, self.space, self.trials, best, self.metric, stopped_by, report, self.plots,
                              self.objective.reward(self.metric))
        report.results["constraints"] = results.constraints(self.objective, best, self.rejections)
        results.constraints_section(report, self.hardware)
        if front is not None:
            files += results.write_front(self.run_dir, front, best, rows, self.metric, cost_metric, report, self.plots)
        artifacts = self.strategy.artifacts(rows, final=True) if rows else Artifacts()
        files += self._write(artifacts, final=True) + ([STATE_FILE] if self.strategy.resumes_from_state else [])
        report.results.update(artifacts.results)
        # a section that shows pictures is kept only when they were drawn
        report.sections.extend((title, body) for title, body in artifacts.sections
                               if self.plots or not any(f"({name})" in body for name in artifacts.plots))
        self._record_schedule(stopped_by, report)
        results.print_summary(self.console, best, rows, self.metric, stopped_by, self.run_dir,
                              self.objective.reward(self.metric))
        return best

    def _record_schedule(self, stopped_by: str, report: RunReport) -> None:
        """report.json's `schedule` (steps, done, cut_by) for a strategy with one; a report section
        and a console line when the budget cut it short."""
        schedule = schedule_record(self.strategy.steps(), self._counted(), stopped_by, self.strategy.schedule_text())
        if schedule is None:
            return
        report.results["schedule"] = schedule
        if schedule["cut_by"]:
            text = (f"The schedule of {self._strategy_name()} ({schedule['what']}) was cut by {schedule['cut_by']} after "
                    f"{schedule['done']} of its {schedule['steps']} steps: this is the result of a shortened search.")
            report.sections.append(("Schedule cut short", text))
            self.console.print(f"[yellow]{text}[/]", soft_wrap=True)
