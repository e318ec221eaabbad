"""Zero-cost proxies: finite scores, synflow ignores the data, snip/jacov/nwot depend on it, and the
search objective is the proxy's own column."""

from __future__ import annotations

import math
import random

import pytest
import torch
from rich.console import Console

from nascli.data.datasets import DataSplits, Split
from nascli.errors import ConfigError
from nascli.evaluators.base import EvalContext
from nascli.evaluators.zero_cost import PROXIES, ZeroCostEvaluator
from nascli.hardware.target import HardwareTarget
from nascli.search.loop import Budget, run_sample_search
from nascli.search.trials import TrialLog
from nascli.spaces.darts import DartsSpace
from nascli.spaces.nb201 import NB201Space
from nascli.strategies.random import RandomSearch

SPACE = NB201Space(channels=4, cells_per_stage=1)
ARCH = ("nor_conv_3x3", "nor_conv_1x1", "skip_connect", "nor_conv_3x3", "avg_pool_3x3", "nor_conv_3x3")


def fake_data(seed: int, n: int = 64) -> DataSplits:
    gen = torch.Generator().manual_seed(seed)
    split = Split(torch.rand(n, 1, 8, 8, generator=gen), torch.randint(0, 10, (n,), generator=gen))
    return DataSplits("fake", split, split, split, 10, [str(i) for i in range(10)], 1.0, [0.5], [0.25])


def evaluator(proxy: str, data_seed: int = 0, space=SPACE) -> ZeroCostEvaluator:
    context = EvalContext(space, 0, torch.device("cpu"), None, load_data=lambda: fake_data(data_seed))
    return ZeroCostEvaluator(context, proxy=proxy, batch_size=16)


@pytest.mark.parametrize("proxy", sorted(PROXIES))
def test_scores_are_finite_and_repeat(proxy: str) -> None:
    first = evaluator(proxy).evaluate(ARCH)
    assert math.isfinite(first[f"zc_{proxy}"]) and first["cost_s"] >= 0
    assert evaluator(proxy).evaluate(ARCH)[f"zc_{proxy}"] == first[f"zc_{proxy}"]


def test_synflow_is_invariant_to_the_input_data() -> None:
    assert evaluator("synflow", 0).evaluate(ARCH)["zc_synflow"] == evaluator("synflow", 1).evaluate(ARCH)["zc_synflow"]


@pytest.mark.parametrize("proxy", ["snip", "jacov", "nwot"])
def test_data_dependent_proxies_change_with_the_batch(proxy: str) -> None:
    assert evaluator(proxy, 0).evaluate(ARCH)[f"zc_{proxy}"] != evaluator(proxy, 1).evaluate(ARCH)[f"zc_{proxy}"]


@pytest.mark.parametrize("proxy", ["synflow", "nwot"])
def test_proxies_work_on_darts_networks(proxy: str) -> None:
    space = DartsSpace(channels=4, layers=3)
    arch = space.sample(random.Random(0))
    assert math.isfinite(evaluator(proxy, space=space).evaluate(arch)[f"zc_{proxy}"])


def test_search_objective_is_the_proxy_column(tmp_path) -> None:
    zc = evaluator("synflow")
    log = TrialLog(tmp_path)
    run_sample_search(SPACE, RandomSearch(SPACE, seed=0), zc, HardwareTarget(), Budget(trials=3), log,
                      on_trial=lambda: None, console=Console(quiet=True))
    assert all(r["objective"] == r["zc_synflow"] and r["status"] == "completed" for r in log.rows)
    assert "val_accuracy" not in log.rows[0] and "zc_synflow" in log.columns


def test_unknown_proxy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="synflow"):
        evaluator("grasp")


def test_cli_search_by_a_proxy_reports_the_proxy(tmp_path) -> None:
    from nasrun import nas, read_json

    run_dir = tmp_path / "zc"
    result = nas("search", "evaluator=zero_cost", "evaluator.proxy=jacov", "debug=smoke", "budget.trials=4",
                 f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.code == 0, result.text
    metrics = read_json(run_dir / "genotype.json")["metrics"]
    assert metrics["zc_jacov"] == metrics["objective"] and "val_accuracy" not in metrics
    assert "zc_jacov" in read_json(run_dir / "report.json")["best"]
