"""The chain space end to end on CPU (debug=smoke, 8 px digits): a REINFORCE search for accuracy
and speed under a latency limit, whose genotype retrains, evaluates and exports; a zero-cost
search; and the clear errors of a limit nothing meets and of a genotype with too many strides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from nasrun import read_json, read_trials, run

from nascli.genotype_file import genotype_record
from nascli.runtime.config import build_option
from nascli.spaces.chain.space import reductions

LIMIT_MS = 50.0


@pytest.fixture(scope="module")
def chain_search(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("chain") / "search"
    result = run("search", "search_space=chain", "strategy=reinforce", "debug=smoke", "hardware=cpu",
                 f"hardware.max_latency_ms={LIMIT_MS}", "hardware.repeats=3", "budget.trials=4", "plots=false",
                 run_dir=run_dir)
    assert result.code == 0, result.text
    return run_dir


def test_reinforce_searches_chain_for_accuracy_and_latency(chain_search: Path) -> None:
    genotype = read_json(chain_search / "genotype.json")
    assert genotype["search_space"] == "chain" and genotype["space_config"]["input_size"] == 8  # digits' size
    space = build_option("search_space", "chain", genotype["space_config"])
    rows = read_trials(chain_search)
    assert len(rows) == 4 and all(float(r["latency_ms"]) <= LIMIT_MS for r in rows if r["status"] == "completed")
    for row in rows:  # every candidate fits 8 px inputs: at most 3 stride-2 layers
        arch = space.from_str(row["arch_str"])
        assert sum(1 for lay in arch.layers if lay.op != "id" and lay.stride == 2) <= reductions(8)
    assert space.to_str(space.from_json(genotype["arch"])) == genotype["arch_str"]


def test_the_found_chain_network_retrains_evaluates_and_exports(chain_search: Path) -> None:
    retrain = chain_search.parent / "retrain"
    result = run("retrain", "debug=smoke", f"genotype={chain_search}", "plots=false", run_dir=retrain)
    assert result.code == 0, result.text
    report = read_json(retrain / "report.json")
    found = read_json(chain_search / "genotype.json")["space_config"]  # debug=smoke sizes other spaces only
    assert torch.load(retrain / "model.pt", weights_only=True)["genotype"]["space_config"] == found
    assert report["genotype"] == read_json(chain_search / "genotype.json")["arch_str"]
    evaluated = run("evaluate", "debug=smoke", f"checkpoint={retrain}", run_dir=chain_search.parent / "evaluate")
    assert evaluated.code == 0, evaluated.text
    assert 0 <= read_json(chain_search.parent / "evaluate" / "report.json")["test_accuracy"] <= 100
    exported = run("export", f"checkpoint={retrain}", "format=all", run_dir=chain_search.parent / "export")
    assert exported.code == 0, exported.text
    checks = read_json(chain_search.parent / "export" / "report.json")["exports"]
    assert {c["format"] for c in checks} == {"torchscript", "onnx"} and all(c["passed"] for c in checks)


def test_zero_cost_search_of_chain(tmp_path: Path) -> None:
    result = run("search", "search_space=chain", "evaluator=zero_cost", "strategy=evolution", "debug=smoke",
                 "plots=false", run_dir=tmp_path / "zc")
    assert result.code == 0, result.text
    assert read_json(tmp_path / "zc" / "genotype.json")["search_space"] == "chain"


def test_a_latency_limit_no_chain_network_meets_is_refused_before_training(tmp_path: Path) -> None:
    result = run("search", "search_space=chain", "strategy=random", "debug=smoke", "hardware=cpu",
                 "hardware.max_latency_ms=0.000001", "hardware.repeats=3", run_dir=tmp_path / "s")
    assert result.code != 0 and "No feasible candidate: hardware.max_latency_ms=1e-06 binds" in result.text
    assert "smallest candidate of the chain space" in result.text and "none | none" in result.text


def test_retraining_a_32px_genotype_on_8px_digits_names_the_strides(tmp_path: Path) -> None:
    space = build_option("search_space", "chain", {"input_size": 32})
    arch = space.from_str("conv3x24s2-maxs2-avgs2-conv1x24s2 | none")
    path = tmp_path / "genotype.json"
    path.write_text(json.dumps(genotype_record(space, arch, {})))
    result = run("retrain", "debug=smoke", f"genotype={path}", run_dir=tmp_path / "r")
    assert result.code == 2, result.text
    assert "would stride a 1x1 feature map: at 8 px inputs at most 3 layers" in result.text
    assert "found for 32 px inputs" in result.text
