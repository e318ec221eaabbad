"""What the engine does with a strategy's side of the contract, shown with a toy one-shot strategy:
measured proposals, extra columns, files after every step and plots at the end, report sections,
the chosen result, a stop reason, state saved and restored, and constraints from the hardware."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from nasrun import read_json
from rich.console import Console

from nascli.errors import DivergedError, NasError
from nascli.evaluators.base import EvalContext, Evaluator
from nascli.hardware.target import target_option
from nascli.runtime.config import build_option
from nascli.runtime.run_report import RunReport
from nascli.search.budget import Budget
from nascli.search.engine import SearchEngine, SearchRun
from nascli.strategies.base import Artifacts, OneShotStrategy, Proposal, SearchContext

SPACE = build_option("search_space", "nb201", {"channels": 4, "cells_per_stage": 1})
ARCHS = [SPACE.from_str(s) for s in (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_3x3~2|",
    "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
)]


class Toy(OneShotStrategy):
    """Proposes ARCHS in turn with made-up accuracies; its state is the step counter. (It trains
    nothing, but a one-shot strategy is given the search's trainer: here the proxy one.)"""

    def __init__(self, space, seed, stop_after: int = 3) -> None:
        super().__init__(space, seed, build_option("trainer", "proxy"))
        self.stop_after, self.told = stop_after, []

    def setup(self, context: SearchContext) -> None:
        self.step_count = 0

    def step(self) -> Proposal | None:
        if self.step_count >= self.stop_after:
            self.stop_reason = "toy_stop" if self.stop_after < len(ARCHS) else None
            return None
        arch = ARCHS[self.step_count]
        self.step_count += 1
        return Proposal(arch, {"val_accuracy": [50.0, 70.0, 60.0][self.step_count - 1]}, {"epoch": self.step_count})

    def tell(self, arch, objective: float) -> None:
        self.told.append(objective)

    def choose(self, rows):
        return rows[0]  # the strategy's own rule, not the best row

    def state_dict(self) -> dict:
        return {"step_count": torch.tensor(self.step_count)}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step_count"])

    def artifacts(self, rows, final: bool) -> Artifacts:
        out = Artifacts(files={"toy.json": {"steps": len(rows)}, "toy.txt": f"{len(rows)} rows\n"})
        if final:
            out.plots["toy.png"] = lambda path: path.write_bytes(b"png")
            out.sections += [("Toy pictures", "![toy](toy.png)"), ("Toy table", "| a |\n|---|\n| 1 |")]
        return out


class NeverCalled(Evaluator):
    def evaluate(self, arch, fidelity=None):
        raise AssertionError("the evaluator scored a measured proposal")


def engine(run_dir: Path, strategy: Toy, trials: int | None = None, plots: bool = True, hardware=None) -> SearchEngine:
    data = build_option("dataset", "digits", {"max_train_samples": 32})
    return SearchEngine(SPACE, strategy, NeverCalled(EvalContext(SPACE, 0, "cpu", None, lambda: data)),
                        hardware or target_option("none"), Budget(trials or 10, None),
                        SearchContext("cpu", lambda: data), SearchRun(run_dir, {"toy": 1}, Console(quiet=True), plots))


def test_measured_proposals_become_rows_files_and_the_chosen_result(tmp_path: Path) -> None:
    toy = Toy(SPACE, 0)
    search = engine(tmp_path, toy)
    stopped_by = search.run()
    report = RunReport(tmp_path, "search", [])
    best = search.finish(stopped_by, report)
    rows = search.trials.rows
    assert stopped_by == "schedule" and [r["epoch"] for r in rows] == [1, 2, 3]
    assert toy.told == [50.0, 70.0, 60.0] and rows[0]["params_m"] > 0  # cost measured by the hardware target
    assert best is rows[0] and read_json(tmp_path / "genotype.json")["arch_str"] == rows[0]["arch_str"]
    assert read_json(tmp_path / "toy.json") == {"steps": 3} and (tmp_path / "toy.png").read_bytes() == b"png"
    assert [t for t, _ in report.sections][-2:] == ["Toy pictures", "Toy table"]
    assert {"toy.json", "toy.txt", "toy.png", "checkpoint.pt"} <= set(report.results["files"])
    assert json.loads((tmp_path / "checkpoint.json").read_text())["rows"] == json.loads(json.dumps(rows))


def test_without_plots_nothing_is_drawn_and_no_section_shows_a_missing_picture(tmp_path: Path) -> None:
    search = engine(tmp_path, Toy(SPACE, 0), plots=False)
    report = RunReport(tmp_path, "search", [])
    search.finish(search.run(), report)
    assert not (tmp_path / "toy.png").exists() and not (tmp_path / "search_curve.png").exists()
    assert [t for t, _ in report.sections][-1] == "Toy table" and "Toy pictures" not in dict(report.sections)


def test_a_strategy_that_stops_early_says_why(tmp_path: Path) -> None:
    assert engine(tmp_path, Toy(SPACE, 0, stop_after=1)).run() == "toy_stop"


def test_state_is_saved_with_the_rows_and_restored_on_resume(tmp_path: Path) -> None:
    assert engine(tmp_path, Toy(SPACE, 0), trials=2).run() == "trials"
    resumed = Toy(SPACE, 0)
    search = engine(tmp_path, resumed, trials=5)
    assert search.run(resume=True) == "schedule"
    assert [r["epoch"] for r in search.trials.rows] == [1, 2, 3] and resumed.told == [60.0]


def test_a_hard_limit_makes_a_candidate_infeasible_but_keeps_its_metrics(tmp_path: Path) -> None:
    sizes = [target_option("none").profiler.measure(SPACE, a, (10, 1, 8))["params_m"] for a in ARCHS]
    smallest = min(sizes)
    search = engine(tmp_path, Toy(SPACE, 0), hardware=target_option("none", {"max_params_m": smallest}))
    search.run()
    rows = search.trials.rows
    assert [r["status"] for r in rows] == ["completed" if size <= smallest else "infeasible" for size in sizes]
    assert all(r["objective"] is None and r["val_accuracy"] > 0 for r in rows if r["status"] == "infeasible")


class BestRow(Toy):
    def choose(self, rows):
        return None  # the engine's rule: the best objective


def test_limits_nothing_can_meet_are_refused_before_any_work(tmp_path: Path) -> None:
    search = engine(tmp_path, BestRow(SPACE, 0), hardware=target_option("none", {"max_params_m": 1e-9}))
    with pytest.raises(NasError, match="No feasible candidate: hardware.max_params_m=1e-09 binds. The smallest"):
        search.run()
    assert not search.trials.rows and not (tmp_path / "genotype.json").exists()


class Failing(BestRow):
    def step(self):
        proposal = super().step()
        if proposal is not None:
            proposal.metrics["val_accuracy"] = float("nan")  # a diverged training, say
        return proposal


def test_a_search_where_every_candidate_failed_writes_no_genotype(tmp_path: Path) -> None:
    search = engine(tmp_path, Failing(SPACE, 0))
    stopped_by = search.run()
    assert {r["status"] for r in search.trials.rows} == {"failed"}
    with pytest.raises(NasError, match="every trial failed or was infeasible"):
        search.finish(stopped_by, RunReport(tmp_path, "search", []))
    assert not (tmp_path / "genotype.json").exists()


class Diverging(Toy):
    """Its second epoch's supernet loss is nan."""

    def step(self):
        proposal = super().step()
        if proposal is not None and self.step_count == 2:
            proposal.columns["train_loss"] = float("nan")
        return proposal


class DivergingWithAdvice(Diverging):
    def divergence_advice(self) -> str:
        return "Lower strategy.toy_lr (now 0.5)."  # its own option names


def test_a_diverging_supernet_stops_the_search_with_the_strategys_own_advice(tmp_path: Path) -> None:
    search = engine(tmp_path / "advised", DivergingWithAdvice(SPACE, 0))
    with pytest.raises(DivergedError, match=r"train loss became nan in epoch 2 of strategy DivergingWithAdvice; "
                                            r".* kept\. Lower strategy.toy_lr \(now 0.5\)\.$"):
        search.run()
    assert [r["epoch"] for r in search.trials.rows] == [1]  # the epoch before is kept
    with pytest.raises(DivergedError, match=r"kept\. Lower trainer.lr \(the rate its weights train at\)\.$"):  # the Strategy base's default
        engine(tmp_path / "plain", Diverging(SPACE, 0)).run()
