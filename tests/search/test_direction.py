"""A lower-is-better objective (a language model's val_perplexity) through the whole search: each
sample-based strategy hears the same signal as for the mirrored accuracy and finds the same
architectures; the result is the lowest perplexity; the summary, report, curve, Pareto front,
multi-fidelity brackets and `nas report` read it as a perplexity, lower is better, never negated."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from configured import CPU, hardware, space, strategy
from nasrun import read_json
from rich.console import Console

from nascli import pareto
from nascli.commands.report import main as report_main
from nascli.data.datasets import DataShape
from nascli.evaluators.base import EvalContext, Evaluator
from nascli.reports.runs import read_run
from nascli.runtime.run_report import RunReport, now_iso
from nascli.search.budget import Budget
from nascli.search.engine import SearchEngine, SearchRun
from nascli.strategies.base import Proposal, SearchContext, Strategy

SPACE = space("nb201")
FULL = 9  # epochs of a full training: the stand-ins score any fewer too (for hyperband)


def no_data():
    raise AssertionError("a search scored by a stand-in evaluator loaded the dataset")


class Accuracy(Evaluator):
    """Scores an architecture by its ops without training: 3x3 convolutions count most, 1x1 ones
    less, and a shorter training (fidelity) costs accuracy; 0.1 M parameters per 3x3 convolution."""

    def __init__(self) -> None:
        super().__init__(EvalContext(SPACE, 0, CPU, None, no_data))

    def max_fidelity(self):
        return FULL

    def known_cost(self, arch):
        return {"params_m": 0.1 * arch.count("nor_conv_3x3") + 0.03 * arch.count("nor_conv_1x1"), "flops_m": 1.0}

    def accuracy(self, arch, fidelity):
        return (10.0 * arch.count("nor_conv_3x3") + 3.0 * arch.count("nor_conv_1x1") + arch.count("skip_connect")
                - 5.0 * (FULL - (fidelity or FULL)) / FULL)

    def evaluate(self, arch, fidelity=None):
        return {"val_accuracy": self.accuracy(arch, fidelity), **self.known_cost(arch), "cost_s": 0.0}


class Perplexity(Accuracy):
    """The mirror of Accuracy as a language model's metric: val_perplexity = 100 - accuracy, lower is better."""

    objective_metric = "val_perplexity"

    def evaluate(self, arch, fidelity=None):
        return {"val_perplexity": 100.0 - self.accuracy(arch, fidelity), **self.known_cost(arch), "cost_s": 0.0}


def search(run_dir: Path, name: str, scorer: Evaluator, trials: int, plots: bool = False, **hardware_options):
    """A finished search with its report.json written, as `nas search` leaves it; returns the engine and best row."""
    engine = SearchEngine(SPACE, strategy(name, SPACE, seed=0), scorer, hardware("none", **hardware_options),
                          Budget(trials, None), SearchContext(CPU, no_data, max_fidelity=scorer.max_fidelity()),
                          SearchRun(run_dir, {"seed": 0}, Console(file=io.StringIO(), record=True, width=200), plots=plots))
    report = RunReport(run_dir, "search", [f"strategy={name}", f"evaluator={scorer.objective_metric}"])
    best = engine.finish(engine.run(), report)
    report.status, report.finished = "completed", now_iso()
    report.write()
    return engine, best


@pytest.mark.parametrize("name, trials", [("random", 12), ("evolution", 30), ("bo", 12), ("hyperband", 20)])
def test_each_strategy_minimises_a_perplexity_as_it_maximises_the_mirrored_accuracy(tmp_path, name, trials):
    accurate, accurate_best = search(tmp_path / "acc", name, Accuracy(), trials)
    engine, best = search(tmp_path / "ppl", name, Perplexity(), trials)
    rows, mirrored = engine.trials.rows, accurate.trials.rows
    # told -perplexity = accuracy - 100, a strategy proposes exactly what it proposed for the accuracy
    assert [r["arch_str"] for r in rows] == [r["arch_str"] for r in mirrored]
    assert all(r["objective"] == r["val_perplexity"] for r in rows)  # recorded as measured, never negated
    assert all(r["objective"] > 0 for r in rows)
    final = [r for r in rows if r.get("fidelity") in (None, max(x.get("fidelity") or 0 for x in rows))]
    assert best["val_perplexity"] == min(r["val_perplexity"] for r in final)
    assert best["trial"] == accurate_best["trial"]  # the same result, the lowest perplexity for the highest accuracy
    curve = engine.trials.curve("val_perplexity")
    assert curve == sorted(curve, reverse=True) and curve[-1] == min(r["val_perplexity"] for r in rows)
    if name == "hyperband":  # the brackets' best per rung is the lowest perplexity there
        rungs = read_json(tmp_path / "ppl" / "brackets.json")["rungs_run"]
        for rung in rungs:
            scored = [r["val_perplexity"] for r in rows if (r.get("bracket"), r.get("rung")) == (rung["bracket"], rung["rung"])]
            assert rung["best"] == min(scored)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A perplexity search with plots, a Pareto search of (perplexity, params), and an accuracy search."""
    root = tmp_path_factory.mktemp("direction")
    plotted = search(root / "ppl", "random", Perplexity(), 10, plots=True)
    front = search(root / "front", "random", Perplexity(), 25, objective="pareto", choose="knee")
    accurate = search(root / "acc", "random", Accuracy(), 10)
    return root, plotted, front, accurate


def test_the_summary_report_and_curve_say_lower_is_better(runs):
    root, (engine, best), _, _ = runs
    shown = engine.console.export_text()
    assert f"best val_perplexity {best['val_perplexity']:.4g} (lower is better)" in shown
    report = read_json(root / "ppl" / "report.json")
    assert report["objective_metric"] == {"metric": "val_perplexity", "direction": "min",
                                          "label": "validation perplexity", "unit": ""}
    assert report["best"]["val_perplexity"] == best["val_perplexity"] == min(
        r["val_perplexity"] for r in engine.trials.rows)
    assert (root / "ppl" / "search_curve.png").stat().st_size > 0
    markdown = (root / "ppl" / "report.md").read_text()
    assert "The objective is val_perplexity: lower is better." in markdown
    top = read_json(root / "ppl" / "report.json")["best"]
    assert top["trial"] == best["trial"]


def test_a_pareto_front_of_perplexity_and_params_keeps_the_lowest_of_both(runs):
    root, _, (engine, best), _ = runs
    rows = [r for r in engine.trials.rows if r.get("objective") is not None]
    points = [(-r["val_perplexity"], -r["params_m"]) for r in rows]  # both minimised: maximise their negations
    expected = {(rows[i]["val_perplexity"], rows[i]["params_m"]) for i in pareto.front(points)}
    front = read_json(root / "front" / "report.json")["pareto"]["front"]
    assert {(p["val_perplexity"], p["params_m"]) for p in front} == expected
    costs = [p["params_m"] for p in front]
    assert costs == sorted(costs)  # cheapest first, so perplexity falls along the front
    assert [p["val_perplexity"] for p in front] == sorted((p["val_perplexity"] for p in front), reverse=True)
    assert best["trial"] in {p["trial"] for p in front if p["chosen"]}
    assert (root / "front" / "pareto.csv").exists()
    assert "val_perplexity (lower is better) against params_m" in (root / "front" / "report.md").read_text()


def test_nas_report_ranks_a_perplexity_lowest_first_and_names_mixed_objectives(runs, tmp_path):
    root, (ppl, _), _, (acc, _) = runs
    assert read_run(root / "ppl", "ppl", None).objective_metric == "val_perplexity"
    assert report_main([str(root / "ppl"), "--no-plots", "--out", str(tmp_path / "one")]) == 0
    summary = (tmp_path / "one" / "summary.md").read_text()
    assert "lowest mean objective" in summary
    # a search of perplexity beside one of accuracy: two objective columns, never one mean of both
    assert report_main([str(root / "ppl"), str(root / "acc"), "--out", str(tmp_path / "two")]) == 0
    runs_csv = (tmp_path / "two" / "runs.csv").read_text().splitlines()[0].split(",")
    assert "objective (val_perplexity)" in runs_csv and "objective (val_accuracy)" in runs_csv
    assert "objective" not in runs_csv
    assert (tmp_path / "two" / "search_curves.png").exists()


def test_a_resumed_perplexity_search_replays_what_its_strategy_was_told(tmp_path):
    def engine(run_dir, trials):
        return SearchEngine(SPACE, strategy("evolution", SPACE, seed=0, population=4, sample_size=2),
                            Perplexity(), hardware("none"), Budget(trials, None), SearchContext(CPU, no_data),
                            SearchRun(run_dir, {"seed": 0}, Console(quiet=True), plots=False))

    whole = engine(tmp_path / "whole", 10)
    whole.run()
    engine(tmp_path / "cut", 6).run()
    resumed = engine(tmp_path / "cut", 10)
    resumed.run(resume=True)  # replays -perplexity to the strategy, not the recorded perplexity
    assert [r["arch_str"] for r in resumed.trials.rows] == [r["arch_str"] for r in whole.trials.rows]


class Epochs(Strategy):
    """A one-shot stand-in: each proposal is an epoch whose candidate it measured itself, on the data
    its context loads, a perplexity falling and rising again."""

    measures_candidates = True

    def __init__(self, searched) -> None:
        super().__init__(searched, 0)
        self.perplexities = [300.0, 120.0, 80.0, 95.0]

    def steps(self):
        return 4

    def propose(self):
        if not self.perplexities:
            return None
        return Proposal(self.space.sample(random.Random(len(self.perplexities))),
                        {"val_perplexity": self.perplexities.pop(0)}, {"epoch": 4 - len(self.perplexities)})


class Corpus:
    """What a language-model dataset tells the search: its networks' shape and the metric they are validated by."""

    objective_metric = "val_perplexity"
    shape = DataShape(num_classes=10, in_channels=1, input_size=8)


def test_a_one_shot_strategy_on_a_corpus_is_judged_by_the_corpus_metric(tmp_path):
    tiny = space("nb201", channels=4, cells_per_stage=1)  # the engine measures the cost of each epoch's network
    engine = SearchEngine(tiny, Epochs(tiny), Perplexity(), hardware("none"), Budget(None, None),
                          SearchContext(CPU, Corpus), SearchRun(tmp_path, {"seed": 0}, Console(quiet=True), plots=False))
    best = engine.finish(engine.run(), RunReport(tmp_path, "search", []))
    assert engine.metric == "val_perplexity"
    assert [r["objective"] for r in engine.trials.rows] == [300.0, 120.0, 80.0, 95.0]
    assert best["epoch"] == 3 and best["val_perplexity"] == 80.0
