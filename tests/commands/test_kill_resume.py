"""Kill and resume of every long command: a run killed with SIGKILL at a random moment, then
resumed with resume=true, ends with what an uninterrupted run with the same seed ends with.

Each test starts the real command line, waits for its first checkpoint (the progress marker), waits a
further seeded random delay and kills it; the uninterrupted run is in process (one torch thread in
both, so the numbers agree). Retrain's test is tests/commands/test_retrain_resume.py.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from nasrun import read_json, read_trials, run


def _kill_at_random(args: list[str], run_dir: Path, cwd: Path, marker: str, seed: int) -> None:
    """`nas <args>` in `run_dir`, killed (SIGKILL) a seeded random 0-0.5 s after `marker` appeared."""
    env = {**os.environ, "COLUMNS": "200", "NASCLI_DATA_DIR": str(cwd / "data"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nascli", *args, f"hydra.run.dir={run_dir}"], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (run_dir / marker).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(random.Random(seed).uniform(0.0, 0.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert read_json(run_dir / "report.json")["status"] == "running", "the run ended before it was killed"


def _same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_a_killed_evolution_search_resumes_to_the_uninterrupted_trials(tmp_path: Path) -> None:
    # a population of 3: trials 4-7 are mutations, so the replayed strategy state matters
    args = ["search", "strategy=evolution", "strategy.population=3", "strategy.sample_size=2", "debug=smoke",
            "budget.trials=7", "plots=false"]
    whole = run(*args, run_dir=tmp_path / "whole")
    assert whole.code == 0, whole.text
    killed = tmp_path / "killed"
    _kill_at_random(args, killed, tmp_path, "trials.csv", seed=1)
    assert 1 <= len(read_trials(killed)) < 7
    resumed = run(*args, "resume=true", run_dir=killed)
    assert resumed.code == 0, resumed.text
    assert read_trials(killed) == read_trials(tmp_path / "whole")
    assert read_json(killed / "genotype.json")["arch"] == read_json(tmp_path / "whole" / "genotype.json")["arch"]


@pytest.mark.slow
def test_a_killed_darts_search_resumes_to_the_same_supernet(tmp_path: Path) -> None:
    args = ["search", "strategy=darts", "debug=smoke", "trainer.epochs=3", "search_space.cells_per_stage=1", "plots=false"]
    whole = run(*args, run_dir=tmp_path / "whole")
    assert whole.code == 0, whole.text
    killed = tmp_path / "killed"
    _kill_at_random(args, killed, tmp_path, "checkpoint.pt", seed=2)
    resumed = run(*args, "resume=true", run_dir=killed)
    assert resumed.code == 0, resumed.text
    assert "Resuming from trial" in resumed.out
    assert read_trials(killed) == read_trials(tmp_path / "whole")
    assert read_json(killed / "genotype.json")["arch"] == read_json(tmp_path / "whole" / "genotype.json")["arch"]
    states = [torch.load(d / "checkpoint.pt", weights_only=True)["state"] for d in (killed, tmp_path / "whole")]
    assert _same_tensors(states[0]["supernet"], states[1]["supernet"])


@pytest.mark.slow
def test_a_killed_parallel_search_runs_its_candidates_in_flight_again(tmp_path: Path) -> None:
    """search.workers=2 on local worker processes, killed after its first result with candidates
    in flight: the resume runs those again and ends with the uninterrupted search's candidates and
    scores (random search proposes the same ones, and a score depends only on the candidate)."""
    args = ["search", "debug=smoke", "budget.trials=5", "plots=false"]
    killed = tmp_path / "killed"
    _kill_at_random([*args, "search.workers=2"], killed, tmp_path, "trials.csv", seed=1)
    pending = [p["arch_str"] for p in read_json(killed / "checkpoint.json")["pending"]]
    assert 1 <= len(pending) <= 2 and len(read_trials(killed)) < 5
    resumed = run(*args, "search.workers=2", "resume=true", run_dir=killed)
    assert resumed.code == 0, resumed.text
    assert f"running again the {len(pending)} candidate(s) that were in flight" in resumed.out
    whole = run(*args, run_dir=tmp_path / "whole")  # one worker, uninterrupted
    assert whole.code == 0, whole.text
    rows = read_trials(killed)
    assert len(rows) == 5 and set(pending) <= {r["arch_str"] for r in rows}
    assert ({r["arch_str"]: r["val_accuracy"] for r in rows}
            == {r["arch_str"]: r["val_accuracy"] for r in read_trials(tmp_path / "whole")})


@pytest.mark.slow
def test_a_killed_reptile_meta_train_resumes_to_the_same_prior(tmp_path: Path) -> None:
    args = ["meta-train", "method=reptile", "tasks=subsets", "debug=smoke", "method.meta_iterations=4"]
    whole = run(*args, run_dir=tmp_path / "whole")
    assert whole.code == 0, whole.text
    killed = tmp_path / "killed"
    _kill_at_random(args, killed, tmp_path, "meta_state.pt", seed=3)
    done = torch.load(killed / "meta_state.pt", weights_only=True)["method"]["iteration"]
    assert 1 <= done < 4
    resumed = run(*args, "resume=true", run_dir=killed)
    assert resumed.code == 0, resumed.text
    assert f"after meta-iteration {done} of 4" in resumed.out and resumed.objective == whole.objective
    priors = [torch.load(d / "prior.pt", weights_only=True) for d in (killed, tmp_path / "whole")]
    assert _same_tensors(priors[0]["supernet"], priors[1]["supernet"])
    assert all(torch.equal(a, b) for a, b in zip(priors[0]["gene_log_probs"], priors[1]["gene_log_probs"]))
    assert (killed / "meta_metrics.csv").read_text() == (tmp_path / "whole" / "meta_metrics.csv").read_text()
    assert read_json(killed / "report.json")["history"] == read_json(tmp_path / "whole" / "report.json")["history"]


@pytest.mark.slow
def test_a_meta_train_resumed_with_other_settings_is_refused(tmp_path: Path) -> None:
    args = ["meta-train", "method=reptile", "tasks=subsets", "debug=smoke", "method.meta_iterations=2"]
    assert run(*args, run_dir=tmp_path / "m").code == 0
    result = run(*args, "seed=5", "resume=true", run_dir=tmp_path / "m")
    assert result.code == 2 and "other settings (seed was 0, is 5)" in result.err, result.text


@pytest.mark.slow
def test_a_killed_recurrent_cell_search_resumes_to_the_same_supernet(tmp_path: Path) -> None:
    from textcorpus import lm_corpus

    corpus = lm_corpus(tmp_path / "ptb", (120, 10, 10))
    args = ["search", "search_space=rnn", "dataset=text_lm", f"dataset.root={corpus}", "dataset.bptt=8",
            "strategy=darts", "debug=smoke", "trainer.epochs=4", "trainer.batch_size=4", "plots=false"]
    whole = run(*args, run_dir=tmp_path / "whole")
    assert whole.code == 0, whole.text
    killed = tmp_path / "killed"
    _kill_at_random(args, killed, tmp_path, "checkpoint.pt", seed=4)
    resumed = run(*args, "resume=true", run_dir=killed)
    assert resumed.code == 0, resumed.text
    assert read_trials(killed) == read_trials(tmp_path / "whole")
    states = [torch.load(d / "checkpoint.pt", weights_only=True)["state"] for d in (killed, tmp_path / "whole")]
    assert _same_tensors(states[0]["supernet"], states[1]["supernet"])
