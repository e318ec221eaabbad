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


# --- networks without signal: a defined score, never a crash (issue 20) ------------------------------
DISCONNECTED = "|none~0|+|nor_conv_1x1~0|none~1|+|none~0|avg_pool_3x3~1|none~2|"  # node 3 never sees the input


def _degenerate() -> list[tuple[object, object]]:
    """(space, arch) of every space's networks with no path from input to output, or no op at all."""
    nb201, nb101 = SPACE, space("nb101", channels=8, cells_per_stack=1)
    chain = space("chain", max_layers=4, widths=[8], dense_widths=[16], max_dense=1).for_input(10, 1, 8)
    darts, mobilenet = space("darts", channels=4, layers=3), space("mobilenet", channels=4)
    return [(nb201, nb201.from_str(DISCONNECTED)), (nb201, ("none",) * 6), (nb101, nb101.smallest()),
            (chain, chain.smallest()), (darts, darts.smallest()), (mobilenet, mobilenet.smallest())]


@pytest.mark.parametrize("proxy", sorted(PROXIES))
def test_every_proxy_scores_cells_without_signal_and_ranks_them_lowest(proxy: str) -> None:
    from nascli.evaluators.zero_cost import LOG_ZERO

    for searched, arch in _degenerate():
        value = zero_cost(proxy, searched=searched).evaluate(arch)[f"zc_{proxy}"]
        assert math.isfinite(value), (searched.name, arch, value)
    connected = zero_cost(proxy).evaluate(ARCH)[f"zc_{proxy}"]
    for arch in (SPACE.from_str(DISCONNECTED), ("none",) * 6):  # no input reaches the output
        value = zero_cost(proxy).evaluate(arch)[f"zc_{proxy}"]
        assert value <= connected, (proxy, arch)
    assert zero_cost(proxy).evaluate(("none",) * 6)[f"zc_{proxy}"] in {0.0, LOG_ZERO} or proxy == "jacov"


def test_a_candidate_the_evaluator_cannot_score_is_recorded_and_the_search_goes_on(tmp_path) -> None:
    """The README's promise: a failing candidate is recorded with its reason; the search goes on."""
    from nascli.errors import UnscorableError

    class FailsOnPools(type(zero_cost("snip"))):
        def evaluate(self, arch, fidelity=None):
            if "avg_pool_3x3" in arch:
                raise UnscorableError("this network has a pool (a stand-in failure)")
            return super().evaluate(arch, fidelity)

    context = EvalContext(SPACE, 0, CPU, None, load_data=lambda: fake_data(0))
    scorer = FailsOnPools(context, proxy="snip", batch_size=16)
    engine = SearchEngine(SPACE, strategy("random", SPACE, seed=0), scorer, hardware("none"), Budget(12, None),
                          SearchContext(CPU, lambda: fake_data(0)),
                          SearchRun(tmp_path, {}, Console(quiet=True), plots=False))
    assert engine.run(resume=False) == "trials"
    failed = [r for r in engine.trials.rows if r["status"] == "failed"]
    assert failed and all("a stand-in failure" in r["error"] and r["objective"] is None for r in failed)
    assert len(engine.trials.rows) == 12
