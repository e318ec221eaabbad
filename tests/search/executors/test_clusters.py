"""search.executor=ray and submitit: the same search through a local Ray instance and through
submitit's local executor (what it runs on Slurm), scored by the NB201 table on their workers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from configured import CPU, hardware, restricted, space, strategy
from configured import evaluator as build_evaluator
from omegaconf import OmegaConf
from rich.console import Console

from nascli.evaluators.base import EvalContext
from nascli.runtime.config import check_fields, option_node, plain
from nascli.search.budget import Budget
from nascli.search.engine import SearchEngine, SearchRun
from nascli.search.executors.worker import Recipe
from nascli.search.workers import WorkerOptions, executor_for
from nascli.strategies.base import SearchContext

pytestmark = pytest.mark.slow  # Ray starts in ~5 s; each submitit job is a new Python process
TABLE = {"table": "nb201", "task": "cifar10"}
SEARCH = OmegaConf.load(Path(__file__).parents[3] / "conf" / "search.yaml").search  # the YAML's defaults


def no_data():
    raise AssertionError("a table's search loaded a dataset")


def search(run_dir: Path, executor: str, trials: int, **changes) -> list[dict]:
    """Random search of the NB201 table, `trials` candidates on 2 workers of `executor`."""
    searched = restricted("tabular", space("nb201"), **TABLE)
    scorer = build_evaluator("tabular", EvalContext(searched, 0, CPU, None, no_data), **TABLE)
    recipe = Recipe(searched, 0, "cpu", 1, plain(option_node("evaluator", "tabular", TABLE)),
                    plain(option_node("trainer", "proxy")), plain(option_node("dataset", "digits")))
    options = OmegaConf.merge(SEARCH, {"workers": 2, "executor": executor, **changes})
    workers = check_fields(OmegaConf.to_container(options), WorkerOptions, "search")
    engine = SearchEngine(searched, strategy("random", searched, seed=0), scorer, hardware("none"), Budget(trials, None),
                          SearchContext(CPU, no_data),
                          SearchRun(run_dir, {}, Console(quiet=True), plots=False,
                                    executor=executor_for(workers, scorer, recipe, run_dir)))
    assert engine.run() == "trials"
    return engine.trials.rows


def check(rows: list[dict], trials: int) -> None:
    """Each candidate scored once on a worker, as the table says. Rows are in the order results
    arrived, which is not always the order the workers' clocks say they finished: a Ray result
    travels to the driver, a submitit job's result file appears a while after the job ends, so one
    that finished a few milliseconds earlier may arrive later (seen under load)."""
    table = build_evaluator("tabular", EvalContext(restricted("tabular", space("nb201"), **TABLE), 0, CPU, None,
                                                   no_data), **TABLE)
    assert len(rows) == trials and len({r["arch_str"] for r in rows}) == trials
    for row in rows:
        arch = table.context.space.from_str(row["arch_str"])
        assert row["status"] == "completed" and row["val_accuracy"] == table.evaluate(arch)["val_accuracy"]


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed (pip install 'nascli[ray]')")
def test_ray_actors_on_a_local_instance(tmp_path: Path) -> None:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rows = search(tmp_path, "ray", 4, ray={"num_cpus": 1})
    finally:
        ray.shutdown()
    check(rows, 4)
    assert {r["worker"] for r in rows} <= {0, 1}


@pytest.mark.skipif(importlib.util.find_spec("submitit") is None, reason="submitit is not installed "
                    "(pip install 'nascli[slurm]')")
def test_submitit_jobs_with_its_local_executor(tmp_path: Path) -> None:
    rows = search(tmp_path, "submitit", 2, submitit={"cluster": "local", "cpus_per_task": 1, "gpus_per_node": None,
                                                  "mem_gb": None})
    check(rows, 2)
    assert len({r["worker"] for r in rows}) == 2  # one job per candidate
    assert (tmp_path / ".submitit").is_dir()
