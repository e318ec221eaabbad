"""Every registered strategy keeps the strategy contract (nascli.strategies.base) with the engine:
a sample-based one resumes by replay to the same next proposals; a one-shot one measures its own
candidates, trains by the trainer it is given (its YAML's, shrunk as debug=smoke shrinks it), and
resumes from its state to the uninterrupted rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf
from rich.console import Console

from nascli.evaluators.base import EvalContext, Evaluator
from nascli.hardware.target import target_option
from nascli.registry import STRATEGIES
from nascli.runtime.config import build, build_option, chosen_options, conf_root, load_option
from nascli.runtime.run_report import RunReport
from nascli.search.budget import Budget
from nascli.search.engine import SearchEngine, SearchRun
from nascli.search.resume import replay
from nascli.strategies.base import SampleStrategy, SearchContext

SAMPLE = [name for name, cls in STRATEGIES.items() if not cls.measures_candidates]
ONE_SHOT = [name for name, cls in STRATEGIES.items() if cls.measures_candidates]
SPACE = build_option("search_space", "nb201")
SMALL = build_option("search_space", "nb201", {"channels": 4, "cells_per_stage": 1})  # a one-shot supernet's size


def objective(arch) -> float:
    """A task where 3x3 convolutions help and pooling hurts."""
    return 60.0 + 5.0 * arch.count("nor_conv_3x3") - 2.0 * arch.count("avg_pool_3x3")


def proposals(strategy, n: int) -> list:
    asked = []
    for _ in range(n):
        proposal = strategy.propose()
        strategy.tell(proposal.arch, objective(proposal.arch))
        asked.append(proposal)
    return asked


def sample_strategy(name: str, seed: int = 0) -> SampleStrategy:
    """Built and set up as the engine does; an evaluator that can train for up to 9 epochs (for
    multi-fidelity strategies)."""
    strategy = build_option("strategy", name, space=SPACE, seed=seed)
    strategy.setup(SearchContext("cpu", lambda: None, max_fidelity=9))
    return strategy


@pytest.mark.parametrize("name", SAMPLE)
def test_a_sample_strategy_resumes_by_replay(name: str) -> None:
    whole = sample_strategy(name)
    assert isinstance(whole, SampleStrategy) and not whole.resumes_from_state
    asked = proposals(whole, 24)
    assert all(SPACE.validate(p.arch) == p.arch for p in asked) and len({p.arch for p in asked}) > 12
    resumed = sample_strategy(name)
    replay(resumed, SPACE, [{"trial": i, "arch_str": SPACE.to_str(p.arch), "objective": objective(p.arch),
                             **({} if p.fidelity is None else {"fidelity": p.fidelity})}
                            for i, p in enumerate(asked[:12])])
    assert proposals(resumed, 12) == asked[12:]
    assert proposals(sample_strategy(name, seed=1), 24) != asked


class Unused(Evaluator):
    """One-shot strategies measure their candidates themselves: the engine never calls this."""

    def evaluate(self, arch, fidelity=None):
        raise AssertionError("a one-shot proposal was scored by the evaluator")


def smoke(name: str) -> tuple[object, object]:
    """(strategy options, trainer) under debug=smoke (conf/debug/app/smoke_search.yaml's trainer, and the
    strategy's own conf/debug/strategy/smoke_<name>.yaml where it has one), 2 epochs."""
    node = load_option("strategy", name)
    if conf_root().joinpath("debug", "strategy", f"smoke_{name}.yaml").is_file():
        node = OmegaConf.merge(node, load_option("debug/strategy", f"smoke_{name}"))
    trainer = OmegaConf.merge(load_option("trainer", chosen_options("strategy", name)["trainer"]),
                              load_option("debug/app", "smoke_search").trainer, {"epochs": 2})
    return node, build(trainer, "trainer")


def search(name: str, run_dir: Path, trials: int, data, resume: bool = False) -> list[dict]:
    options, trainer = smoke(name)
    strategy = build(options, "strategy", space=SMALL, seed=0, trainer=trainer)
    engine = SearchEngine(SMALL, strategy, Unused(EvalContext(SMALL, 0, "cpu", None, lambda: data)),
                          target_option("none"), Budget(trials, None), SearchContext("cpu", lambda: data),
                          SearchRun(run_dir, {"strategy": name}, Console(quiet=True), plots=False))
    engine.finish(engine.run(resume=resume), RunReport(run_dir, "search", []))
    return [{k: v for k, v in row.items() if k not in ("cost_s", "elapsed_s")} for row in engine.trials.rows]


@pytest.fixture(scope="module")
def data():
    return build_option("dataset", "digits", {"max_train_samples": 128})


@pytest.mark.parametrize("name", ONE_SHOT)
def test_a_one_shot_strategy_runs_and_resumes_through_the_engine(name: str, data, tmp_path: Path) -> None:
    full = search(name, tmp_path / "full", 2, data)
    assert len(full) == 2 and all(0.0 <= row["val_accuracy"] <= 100.0 for row in full)
    search(name, tmp_path / "part", 1, data)
    assert (tmp_path / "part" / "checkpoint.pt").is_file()
    assert search(name, tmp_path / "part", 2, data, resume=True) == full
