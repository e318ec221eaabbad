"""A resume continues the run as it was configured: the run's own config, with only what the
resume's command line changes; a change of where or how fast it runs or when it stops is said in
one line, any other is refused with the diff, by the same rule for search, retrain and meta-train;
and the run's record (.hydra/overrides.yaml, .hydra/config.yaml, report.json) keeps the original
command's settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from configured import space
from nasrun import compose, nas, read_json, read_trials, run
from omegaconf import OmegaConf

from nascli.genotype_file import genotype_record
from nascli.runtime.run_config import RECORD, RunConfig, merge_overrides


def _hydra(run_dir: Path) -> tuple[list[str], dict]:
    """A run directory's .hydra/overrides.yaml and .hydra/config.yaml."""
    overrides = OmegaConf.to_container(OmegaConf.load(run_dir / ".hydra" / "overrides.yaml"))
    return overrides, OmegaConf.to_container(OmegaConf.load(run_dir / ".hydra" / "config.yaml"))


@pytest.mark.slow
def test_the_readme_resume_continues_with_the_original_budget_and_keeps_the_record(tmp_path: Path) -> None:
    """`nas search hydra.run.dir=<dir> budget.trials=3`, stopped after trial 0, then the README's
    `nas search hydra.run.dir=<dir> resume=true`: 3 trials (not the default 12), as if never stopped."""
    run_dir = tmp_path / "my-run"
    original = ["budget.trials=3", "debug=smoke", "evaluator=zero_cost", "plots=false"]
    first = nas("search", f"hydra.run.dir={run_dir}", *original, cwd=tmp_path)
    assert first.code == 0, first.text
    whole = read_trials(run_dir)
    checkpoint = read_json(run_dir / "checkpoint.json")  # as a kill after trial 0 leaves it (written before trials.csv)
    (run_dir / "checkpoint.json").write_text(json.dumps({**checkpoint, "rows": checkpoint["rows"][:1]}))

    resumed = nas("search", f"hydra.run.dir={run_dir}", "resume=true", cwd=tmp_path)
    assert resumed.code == 0, resumed.text
    assert f"Resuming {run_dir} as it was configured (budget.trials=3 debug=smoke evaluator=zero_cost plots=false)." \
        in resumed.out
    assert "Resuming from trial 1" in resumed.out
    assert read_trials(run_dir) == whole and len(whole) == 3
    overrides, config = _hydra(run_dir)
    assert overrides == [*original, "resume=true"]
    assert config["budget"]["trials"] == 3 and config["evaluator"]["_target_"].endswith("ZeroCostEvaluator")
    report = read_json(run_dir / "report.json")
    assert report["status"] == "completed" and report["resumed"] == {"overrides": ["resume=true"], "changed": []}
    assert report["argv"] == overrides  # the run's command line, as `nas report` reads it


@pytest.fixture(scope="module")
def genotype(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small nb201 genotype to retrain (4 channels, one cell per stage)."""
    import random

    nb201 = space("nb201", channels=4, cells_per_stage=1)
    path = tmp_path_factory.mktemp("genotype") / "genotype.json"
    path.write_text(json.dumps(genotype_record(nb201, nb201.sample(random.Random(0)), {})))
    return path


# command: (its first run, a free change and what is said of it, a fixed change and its diff)
RESUMES = {
    "search": (["debug=smoke", "evaluator=zero_cost", "budget.trials=2", "plots=false"],
               "trainer.compile=none", "trainer.compile was 'auto', is 'none'", "trainer.lr=0.1",
               "trainer.lr was 0.05, is 0.1"),
    "retrain": (["debug=smoke", "genotype={genotype}", "dataset.max_train_samples=128", "plots=false"],
                "trainer.compile=none", "trainer.compile was 'auto', is 'none'", "trainer.lr=0.1",
                "trainer.lr was 0.05, is 0.1"),
    "meta-train": (["method=reptile", "tasks=subsets", "debug=smoke", "method.meta_iterations=2"],
                   "device=cpu", "device was 'auto', is 'cpu'", "dataset.max_train_samples=256",
                   "dataset.max_train_samples was 512, is 256"),
}


@pytest.mark.slow
@pytest.mark.parametrize("command", list(RESUMES))
def test_a_resume_says_what_it_changes_and_refuses_what_it_may_not(command: str, genotype: Path,
                                                                   tmp_path: Path) -> None:
    first, free, said, fixed, diff = RESUMES[command]
    first = [item.format(genotype=genotype) for item in first]
    run_dir = tmp_path / command
    assert run(command, *first, run_dir=run_dir).code == 0

    refused = run(command, "resume=true", fixed, run_dir=run_dir)
    assert refused.code == 2
    assert f"{run_dir} was written by a {command} with other settings ({diff})." in refused.err
    assert _hydra(run_dir)[0] == first and read_json(run_dir / "report.json")["status"] == "completed"

    resumed = run(command, "resume=true", free, run_dir=run_dir)
    assert resumed.code == 0, resumed.text
    assert f"this command changes {said}." in resumed.out
    assert read_json(run_dir / "report.json")["resumed"] == {"overrides": ["resume=true", free], "changed": [said]}
    assert _hydra(run_dir)[0] == [*first, "resume=true", free]


def test_a_run_without_a_record_resumes_as_before(tmp_path: Path) -> None:
    """A run directory of an older nascli (no .hydra/run.yaml): the resume's command line must be the
    run's own, as before; another is refused with the diff."""
    first = ["debug=smoke", "evaluator=zero_cost", "budget.trials=1", "plots=false"]
    run_dir = tmp_path / "old"
    assert run("search", *first, run_dir=run_dir).code == 0
    (run_dir / RECORD).unlink()
    alone = run("search", "resume=true", run_dir=run_dir)
    assert alone.code == 2 and "keeps no record of its own settings" in alone.out
    assert "was written by a search with other settings (" in alone.err and "evaluator._target_ was" in alone.err
    again = run("search", *first, "budget.trials=2", "resume=true", run_dir=run_dir)
    assert again.code == 0, again.text
    assert len(read_trials(run_dir)) == 2


def test_a_resume_overrides_the_run_own_keys_and_what_it_added() -> None:
    original = ["budget.trials=3", "+network.channels=36", "strategy=evolution"]
    assert merge_overrides(original, ["resume=true", "budget.trials=5", "network.channels=8"]) == [
        "strategy=evolution", "resume=true", "budget.trials=5", "++network.channels=8"]
    assert merge_overrides(original, ["budget=schedule"]) == [  # a group chosen again replaces its keys' overrides
        "+network.channels=36", "strategy=evolution", "budget=schedule"]


def test_values_set_beneath_the_command_line_lose_to_it_and_win_over_presets() -> None:
    line = ["debug=smoke", "trainer.lr=0.1"]  # debug=smoke's retrain preset sets trainer.batch_size=64
    record = RunConfig.of("retrain", compose("retrain", *line), line)
    searched = record.beneath({"trainer.lr": 0.0123, "trainer.batch_size": 32, "trainer.label_smoothing": 0.1})
    assert searched.config["trainer"] == {**record.config["trainer"], "batch_size": 32, "label_smoothing": 0.1}
    assert searched.overrides == line  # the record of what was typed is unchanged
