"""The simulated clock: a benchmark table's training times decide when each candidate finishes,
so a search with many simulated workers is exact, repeatable and takes no real time."""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path

import pytest
from configured import CPU, hardware, restricted, space, strategy
from configured import evaluator as build_evaluator
from rich.console import Console

from nascli.errors import ConfigError, NasError
from nascli.evaluators.base import EvalContext
from nascli.search.budget import Budget
from nascli.search.engine import SearchEngine, SearchRun
from nascli.search.executors.base import Job
from nascli.search.executors.simulated import SimulatedClock
from nascli.strategies.base import WAIT, SearchContext

NB201 = space("nb201")


def no_data():
    raise AssertionError("a table's search loaded a dataset")


@functools.cache
def table(cost_column: str | None = "flops_m"):
    """The shipped NB201 table with its FLOPs as training seconds (a cost proportional to FLOPs)."""
    searched = restricted("tabular", NB201, table="nb201", task="cifar10", cost_column=cost_column)
    return build_evaluator("tabular", EvalContext(searched, 0, CPU, None, no_data), table="nb201", task="cifar10",
                           cost_column=cost_column)


def simulate(run_dir: Path, name: str, workers: int, trials: int = 24, seed: int = 0) -> SearchEngine:
    """How a script runs a search on the simulated clock, without Hydra."""
    scorer = table()
    engine = SearchEngine(scorer.context.space, strategy(name, scorer.context.space, seed=seed), scorer,
                          hardware("none"), Budget(trials, None), SearchContext(CPU, no_data),
                          SearchRun(run_dir, {}, Console(quiet=True), plots=False,
                                    executor=SimulatedClock(scorer, workers)))
    assert engine.run() == "trials"
    return engine


def test_candidates_finish_in_order_of_their_cost_on_free_workers() -> None:
    scorer = table()
    rng = random.Random(0)
    archs = [scorer.context.space.sample(rng) for _ in range(4)]
    clock = SimulatedClock(scorer, workers=3)
    for ticket, arch in enumerate(archs[:3]):
        clock.submit(Job(ticket, arch, None))
    costs = {t: scorer.evaluate(a)["cost_s"] for t, a in enumerate(archs)}
    first = clock.next()
    assert first.ticket == min(range(3), key=costs.get) and first.started == 0.0
    assert first.finished == clock.now() == pytest.approx(costs[first.ticket])
    clock.submit(Job(3, archs[3], None))  # starts when the first finished, on the worker it freed
    rest = [clock.next() for _ in range(3)]
    assert [o.finished for o in rest] == sorted(o.finished for o in rest)
    later = next(o for o in rest if o.ticket == 3)
    assert later.worker == first.worker and later.started == first.finished
    assert later.finished == pytest.approx(first.finished + costs[3])


def test_same_seed_same_trials_and_more_workers_finish_sooner(tmp_path: Path) -> None:
    one = simulate(tmp_path / "one", "evolution", workers=1).trials.rows
    runs = [simulate(tmp_path / f"eight{i}", "evolution", workers=8).trials.rows for i in range(2)]
    assert (tmp_path / "eight0" / "trials.csv").read_text() == (tmp_path / "eight1" / "trials.csv").read_text()
    eight = runs[0]
    assert len(eight) == 24 and len({r["arch_str"] for r in eight}) == 24  # none evaluated twice
    assert {r["worker"] for r in eight} == set(range(8))
    assert [r["finished_s"] for r in eight] == sorted(r["finished_s"] for r in eight)  # completion order
    assert all(r["finished_s"] == pytest.approx(r["started_s"] + r["cost_s"]) for r in eight)
    # one worker's clock is the sum of the costs; eight overlap them
    assert one[-1]["finished_s"] == pytest.approx(sum(r["cost_s"] for r in one))
    assert eight[-1]["elapsed_s"] < one[-1]["elapsed_s"] / 3


def test_a_table_without_training_times_cannot_be_simulated() -> None:
    with pytest.raises(ConfigError, match="cost_column"):
        SimulatedClock(table(cost_column=None), workers=4)


class Killed(Exception):
    """What stops a search here as a kill would: after the checkpoint of a trial."""


def test_a_resumed_search_runs_again_what_was_in_flight(tmp_path: Path) -> None:
    scorer = table()
    searched = scorer.context.space

    def engine(on_trial=None) -> SearchEngine:
        return SearchEngine(searched, strategy("evolution", searched, seed=3, population=8, sample_size=3), scorer,
                            hardware("none"), Budget(30, None), SearchContext(CPU, no_data),
                            SearchRun(tmp_path, {"seed": 3}, Console(quiet=True), plots=False, on_trial=on_trial,
                                      executor=SimulatedClock(scorer, 4)))

    def kill_at_twelve(row):
        if row["trial"] == 11:
            raise Killed

    with pytest.raises(Killed):
        engine(kill_at_twelve).run()
    saved = json.loads((tmp_path / "checkpoint.json").read_text())
    assert len(saved["rows"]) == 12 and len(saved["pending"]) == 3  # three workers busy when it was killed
    in_flight = {p["arch_str"] for p in saved["pending"]}
    resumed = engine()
    assert resumed.run(resume=True) == "trials"  # the replay checked every ask against the record
    rows = resumed.trials.rows
    assert rows[:12] == saved["rows"]
    assert len(rows) == 30 and len({r["arch_str"] for r in rows}) == 30  # nothing evaluated twice
    assert in_flight <= {r["arch_str"] for r in rows[12:]}  # what was in flight ran again
    assert sorted(r["proposed"] for r in rows) == list(range(30))


def test_a_wait_with_nothing_in_flight_is_a_clear_error(tmp_path: Path) -> None:
    scorer = table()
    searcher = strategy("random", scorer.context.space, seed=0)
    searcher.propose = lambda: WAIT
    engine = SearchEngine(scorer.context.space, searcher, scorer, hardware("none"), Budget(5, None),
                          SearchContext(CPU, no_data), SearchRun(tmp_path, {}, Console(quiet=True), plots=False,
                                                                 executor=SimulatedClock(scorer, 2)))
    with pytest.raises(NasError, match="WAIT with no proposal in flight"):
        engine.run()


@pytest.mark.parametrize("cancel", [False, True])
def test_budget_seconds_stops_asking_then_waits_for_or_cancels_what_is_in_flight(tmp_path: Path, cancel: bool) -> None:
    scorer = table()
    engine = SearchEngine(scorer.context.space, strategy("random", scorer.context.space, seed=0), scorer,
                          hardware("none"), Budget(None, 300.0), SearchContext(CPU, no_data),
                          SearchRun(tmp_path, {}, Console(quiet=True), plots=False, cancel_on_stop=cancel,
                                    executor=SimulatedClock(scorer, 4)))
    assert engine.run() == "seconds"
    rows = engine.trials.rows
    asked_after_the_budget = [r for r in rows if r["started_s"] >= 300.0]
    assert not asked_after_the_budget
    pending = json.loads((tmp_path / "checkpoint.json").read_text())["pending"]
    if cancel:  # what was in flight is not recorded, but kept for a resume with more budget
        assert rows[-1]["finished_s"] >= 300.0 > rows[-2]["finished_s"] and len(pending) == 3
    else:  # the candidates in flight finished (on the clock past the budget) and were recorded
        assert sum(r["finished_s"] >= 300.0 for r in rows) == 4 and pending == []


def test_a_one_shot_strategy_is_refused_more_than_one_worker(tmp_path: Path) -> None:
    scorer = table()
    darts = strategy("darts", space("darts", layers=2, channels=4), seed=0)
    with pytest.raises(ConfigError, match="torchrun --nproc_per_node=4 -m nascli search strategy=darts"):
        SearchEngine(darts.space, darts, scorer, hardware("none"), Budget(None, None), SearchContext(CPU, no_data),
                     SearchRun(tmp_path, {}, Console(quiet=True), plots=False, executor=SimulatedClock(scorer, 4)))
