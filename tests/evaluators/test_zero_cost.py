"""Zero-cost proxies: finite scores, synflow ignores the data, snip/jacov/nwot depend on it, and the
search objective is the proxy's own column."""

from __future__ import annotations

import math
import random

import pytest
from configured import CPU, dataset, evaluator, hardware, space, strategy
from nasrun import read_json, run
from rich.console import Console

from nascli.errors import ConfigError
from nascli.evaluators.base import EvalContext
from nascli.evaluators.zero_cost import PROXIES
from nascli.search.budget import Budget
from nascli.search.engine import SearchEngine, SearchRun
from nascli.strategies.base import SearchContext

SPACE = space("nb201", channels=4, cells_per_stage=1)
ARCH = ("nor_conv_3x3", "nor_conv_1x1", "skip_connect", "nor_conv_3x3", "avg_pool_3x3", "nor_conv_3x3")



def fake_data(seed: int):
    """64 random 8x8 one-channel training images of 10 classes, drawn at `seed`."""
    return dataset("fake", channels=1, image_size=8, train_samples=64, val_samples=16, test_samples=16, seed=seed)


def zero_cost(proxy: str, data_seed: int = 0, searched=SPACE):
    context = EvalContext(searched, 0, CPU, None, load_data=lambda: fake_data(data_seed))
    return evaluator("zero_cost", context, proxy=proxy, batch_size=16)


@pytest.mark.parametrize("proxy", sorted(PROXIES))
def test_scores_are_finite_and_repeat(proxy: str) -> None:
    first = zero_cost(proxy).evaluate(ARCH)
    assert math.isfinite(first[f"zc_{proxy}"]) and first["cost_s"] >= 0
    assert zero_cost(proxy).evaluate(ARCH)[f"zc_{proxy}"] == first[f"zc_{proxy}"]


def test_synflow_is_invariant_to_the_input_data() -> None:
    assert zero_cost("synflow", 0).evaluate(ARCH)["zc_synflow"] == zero_cost("synflow", 1).evaluate(ARCH)["zc_synflow"]


@pytest.mark.parametrize("proxy", ["snip", "jacov", "nwot"])
def test_data_dependent_proxies_change_with_the_batch(proxy: str) -> None:
    assert zero_cost(proxy, 0).evaluate(ARCH)[f"zc_{proxy}"] != zero_cost(proxy, 1).evaluate(ARCH)[f"zc_{proxy}"]


@pytest.mark.parametrize("proxy", ["synflow", "nwot"])
def test_proxies_work_on_darts_networks(proxy: str) -> None:
    darts = space("darts", channels=4, layers=3)
    arch = darts.sample(random.Random(0))
    assert math.isfinite(zero_cost(proxy, searched=darts).evaluate(arch)[f"zc_{proxy}"])


def test_search_objective_is_the_proxy_column(tmp_path) -> None:
    engine = SearchEngine(SPACE, strategy("random", SPACE, seed=0), zero_cost("synflow"), hardware("none"),
                          Budget(3, None), SearchContext(CPU, lambda: fake_data(0)),
                          SearchRun(tmp_path, {"test": 1}, Console(quiet=True), plots=False))
    assert engine.run(resume=False) == "trials"
    rows = engine.trials.rows
    assert len(rows) == 3 and all(r["objective"] == r["zc_synflow"] and r["status"] == "completed" for r in rows)
    assert "val_accuracy" not in rows[0] and "zc_synflow" in engine.trials.columns


def test_unknown_proxy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="synflow"):
        zero_cost("grasp")


def test_cli_search_by_a_proxy_reports_the_proxy(tmp_path) -> None:
    run_dir = tmp_path / "zc"
    result = run("search", "evaluator=zero_cost", "evaluator.proxy=jacov", "debug=smoke", "budget.trials=4",
                 run_dir=run_dir)
    assert result.code == 0, result.text
    metrics = read_json(run_dir / "genotype.json")["metrics"]
    assert metrics["zc_jacov"] == metrics["objective"] and "val_accuracy" not in metrics
    assert "zc_jacov" in read_json(run_dir / "report.json")["best"]
