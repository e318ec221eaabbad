"""The Optuna sweeper (`nas <app> -m hparams_search=<preset>`): its search-space grammar, a sweep
that is interrupted and continues from its storage, failed trials, and clear messages for mistakes.

Sweeps run in process through `nas`'s own entry point (Hydra's multirun, local launcher). Where a
test is about the sweep and not the training, the command body is replaced by a quick objective."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from nasrun import read_json

from omegaconf import OmegaConf

from nascli.cli import main
from nascli.errors import ConfigError
from nascli.hpo import SWEEPER_TARGET
from nascli.hpo.sweep_space import parse_space
from nascli.hpo.study import make_sampler
from nascli.runtime import metrics
from nascli.runtime.config import options_in, plain

COMPLETE, FAIL, RUNNING = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL, optuna.trial.TrialState.RUNNING


def nas(*args: str) -> int:
    """`nas <args>` in this process; its exit status."""
    try:
        return main(list(args))
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1


def study_of(sweep_dir: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{sweep_dir / 'optuna.db'}")


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def quick_retrain(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`nas retrain` whose body returns an objective of the learning rate at once; a test appends
    "config", "bug" or "interrupt" to the returned list to make the next call fail that way, or
    "perplexity" to make it return a lower-is-better objective."""
    import nascli.commands.retrain as retrain

    plans: list[str] = []

    def run(ctx) -> float:
        plan = plans.pop(0) if plans else "ok"
        if plan == "config":
            raise ConfigError("trainer.lr is not to this test's liking.")
        if plan == "bug":
            raise RuntimeError("an unexpected bug")
        if plan == "interrupt":
            raise KeyboardInterrupt
        if plan == "perplexity":  # a language model's: lower is better, and its report says so
            ctx.report.results["objective_metric"] = metrics.metric("val_perplexity").describe()
            return 100.0 + 100 * abs(math.log10(ctx.cfg.trainer.lr / 0.05))
        return 90.0 - 100 * abs(math.log10(ctx.cfg.trainer.lr / 0.05))

    monkeypatch.setattr(retrain, "run", run)
    return plans


def retrain_sweep(sweep_dir: Path, *extra: str) -> int:
    return nas("retrain", "-m", "hparams_search=retrain_digits", "genotype=unused", "hydra.sweeper.n_trials=4",
               f"hydra.sweep.dir={sweep_dir}", f"paths.data_dir={sweep_dir.parent / 'data'}", *extra)


# --- the search space -------------------------------------------------------------------------------------
def test_the_grammar_maps_to_optuna_distributions() -> None:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    space = parse_space(
        {"trainer.lr": "tag(log, interval(1e-3, 0.1))", "trainer.batch_size": "choice(32, 64, 128)",
         "trainer.cutout": "range(0, 5, 2)", "trainer.drop_path": "interval(0, 0.3)",
         "trainer.epochs": "tag(int, interval(1, 20))", "network.layers": "tag(log, range(1, 9))"},
        ["genotype=g", "trainer.label_smoothing=choice(0.0, 0.1)", "trainer.drop_path=0.2", "+tags=choice([a,b],[c])"])
    dists = space.distributions()
    assert dists["trainer.lr"] == FloatDistribution(1e-3, 0.1, log=True)
    assert dists["trainer.batch_size"] == CategoricalDistribution([32, 64, 128])
    assert dists["trainer.cutout"] == IntDistribution(0, 4, step=2)
    assert dists["trainer.epochs"] == IntDistribution(1, 20)
    assert dists["network.layers"] == IntDistribution(1, 8, log=True)
    assert dists["trainer.label_smoothing"] == CategoricalDistribution([0.0, 0.1])  # a command-line sweep joins
    assert dists["+tags"] == CategoricalDistribution(["[a,b]", "[c]"])
    assert "trainer.drop_path" not in dists and space.fixed == ["genotype=g", "trainer.drop_path=0.2"]  # pinned

    from hydra.core.override_parser.overrides_parser import OverridesParser

    values = {"trainer.lr": 1e-05, "trainer.batch_size": 64, "trainer.cutout": 2, "trainer.epochs": 3,
              "network.layers": 4, "trainer.label_smoothing": 0.1, "+tags": "[a,b]"}
    parsed = {o.get_key_element(): o.value() for o in OverridesParser.create().parse_overrides(space.overrides(values))}
    assert parsed == {"genotype": "g", "trainer.drop_path": 0.2, **values, "+tags": ["a", "b"]}  # read back unchanged


@pytest.mark.parametrize(("params", "says"), [
    ({"trainer.lr": "interval(0.1"}, "cannot read 'trainer.lr=interval(0.1'"),
    ({"trainer.lr": "tag(lg, interval(0.01, 0.1))"}, "unknown tag(s) lg"),
    ({"trainer.lr": "tag(log, interval(0, 0.1))"}, "a log scale needs a lower bound above 0"),
    ({"trainer.lr": "interval(0.2, 0.1)"}, "trainer.lr"),
    ({"trainer.cutout": "range(5, 0)"}, "is empty"),
    ({"dataset": "glob(*)"}, "cannot be searched"),
    ({}, "no searched key"),
], ids=["syntax", "tag", "log-zero", "reversed", "empty-range", "glob", "nothing"])
def test_a_bad_search_space_is_a_config_error_naming_it(params: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=r"(?s).*" + says.replace("(", r"\(").replace(")", r"\)")):
        parse_space(params, [])


PRESETS = options_in("hparams_search")


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_searches_keys_of_its_app_with_a_seeded_sampler(preset: str) -> None:
    """A preset <app>_<setup>.yaml selects the Optuna sweeper, and its space parses into keys the app has."""
    import importlib

    from hydra import compose, initialize_config_dir, initialize_config_module

    from nascli.runtime.config import config_path

    importlib.import_module("nascli.apps")  # registers the nas.cache_dir resolver
    app = preset.split("_")[0]
    path = config_path()
    init = (initialize_config_module(config_module="nascli.conf", version_base="1.3") if path.startswith("pkg://")
            else initialize_config_dir(config_dir=path, version_base="1.3"))
    with init:
        cfg = compose(app, [f"hparams_search={preset}", "genotype=g"][: 2 if app == "retrain" else 1],
                      return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_ == SWEEPER_TARGET and sweeper.direction == "maximize" and 20 <= sweeper.n_trials <= 50
    space = parse_space(plain(sweeper.params), [])
    assert {p.key for p in space.params} == {f"trainer.{k}" for k in ("lr", "weight_decay", "batch_size", "cutout",
                                                                        "drop_path", "label_smoothing")}
    assert all(OmegaConf.select(cfg, p.key) is not None for p in space.params)
    sampler = plain(sweeper.sampler)
    assert sampler["seed"] == cfg.seed and type(make_sampler(sampler, 0)).__name__ == "TPESampler"


# --- whole sweeps -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_an_interrupted_sweep_continues_from_its_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """4 trials of real smoke searches; the 3rd is interrupted (Ctrl-C inside its job); the same
    command then runs only what is left, and the first two trials' jobs are not run again."""
    import nascli.commands.search as search

    real, calls = search.run, []

    def interrupted_third(ctx):
        calls.append(ctx.run_dir)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(ctx)

    sweep_dir = tmp_path / "sweep"
    args = ("search", "-m", "hparams_search=search_digits", "debug=smoke", "budget.trials=2",
            "hydra.sweeper.n_trials=4", f"hydra.sweep.dir={sweep_dir}", f"paths.data_dir={tmp_path / 'data'}")
    monkeypatch.setattr(search, "run", interrupted_third)
    assert nas(*args) == 130
    first = study_of(sweep_dir, "search_digits").trials
    assert [t.state for t in first] == [COMPLETE, COMPLETE, RUNNING]
    assert read_json(sweep_dir / "2" / "report.json")["status"] == "interrupted"
    kept = {job: (sweep_dir / job / "report.json").read_bytes() for job in ("0", "1")}
    stamps = {job: (sweep_dir / job / "report.json").stat().st_mtime_ns for job in ("0", "1")}
    assert "Rerun the same command" in capsys.readouterr().out

    monkeypatch.setattr(search, "run", real)
    assert nas(*args) == 0
    out = capsys.readouterr().out
    trials = study_of(sweep_dir, "search_digits").trials
    assert [t.state for t in trials] == [COMPLETE, COMPLETE, FAIL, COMPLETE, COMPLETE]  # 4 completed in all
    assert [(t.number, t.value, t.params) for t in trials[:2]] == [(t.number, t.value, t.params) for t in first[:2]]
    assert trials[3].params == first[2].params and "again: #2" in out  # the interrupted trial's values, run again
    for job in ("0", "1"):  # not run again: their job directories are as they were
        assert (sweep_dir / job / "report.json").read_bytes() == kept[job]
        assert (sweep_dir / job / "report.json").stat().st_mtime_ns == stamps[job]
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1", "2", "3", "4"]
    for job, trial in (("3", trials[3]), ("4", trials[4])):  # each job numbered by its trial
        assert read_json(sweep_dir / job / "report.json")["best"]["objective"] == pytest.approx(trial.value)

    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    values = [t.value for t in trials if t.state == COMPLETE]
    assert results["best_value"] == max(values) and results["completed"] == 4
    assert results["failed"] == 0 and results["interrupted"] == 1
    best = trials[results["best_trial"]]
    assert results["best_params"] == best.params and results["direction"] == "maximize"
    rows = read_csv(sweep_dir / "hpo_trials.csv")
    assert [r["state"] for r in rows] == ["complete", "complete", "fail", "complete", "complete"]
    assert rows[2]["error"] == "interrupted"
    assert rows[3]["job_dir"] == str(sweep_dir / "3") and float(rows[3]["trainer.lr"]) == trials[3].params["trainer.lr"]
    assert (sweep_dir / "hpo_history.png").stat().st_size > 0 and (sweep_dir / "multirun.yaml").is_file()
    assert "Top 4 of 5 trials (maximize, 0 failed, 1 interrupted)" in out


@pytest.mark.slow
def test_the_same_seed_gives_the_same_trials_and_a_resumed_sweep_the_uninterrupted_ones(
        tmp_path: Path, quick_retrain: list[str]) -> None:
    assert retrain_sweep(tmp_path / "a") == 0
    assert retrain_sweep(tmp_path / "b") == 0
    params = [t.params for t in study_of(tmp_path / "a", "retrain_digits").trials]
    assert params == [t.params for t in study_of(tmp_path / "b", "retrain_digits").trials]
    assert len({t["trainer.lr"] for t in params}) == 4
    assert retrain_sweep(tmp_path / "c", "seed=1") == 0
    assert [t.params for t in study_of(tmp_path / "c", "retrain_digits").trials] != params

    quick_retrain[:] = ["ok", "ok", "interrupt"]
    assert retrain_sweep(tmp_path / "d") == 130
    assert retrain_sweep(tmp_path / "d") == 0
    resumed = [t.params for t in study_of(tmp_path / "d", "retrain_digits").trials if t.state == COMPLETE]
    assert resumed == params  # no replay of the random start: the trials an uninterrupted sweep ran


def test_a_failed_trial_is_recorded_and_the_sweep_goes_on(tmp_path: Path, quick_retrain: list[str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    quick_retrain[:] = ["ok", "config", "bug", "ok"]
    sweep_dir = tmp_path / "sweep"
    assert retrain_sweep(sweep_dir) == 0
    out = capsys.readouterr()
    trials = study_of(sweep_dir, "retrain_digits").trials
    assert [t.state for t in trials] == [COMPLETE, FAIL, FAIL, COMPLETE]
    assert "trial 2/4 #1  failed: trainer.lr is not to this test's liking." in out.out
    assert read_json(sweep_dir / "1" / "report.json")["status"] == "failed"
    assert "RuntimeError: an unexpected bug" in (sweep_dir / "2" / "traceback.txt").read_text()
    rows = read_csv(sweep_dir / "hpo_trials.csv")
    assert [r["state"] for r in rows] == ["complete", "fail", "fail", "complete"] and "liking" in rows[1]["error"]
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results["completed"] == 2 and results["failed"] == 2 and results["interrupted"] == 0
    assert results["best_value"] == max(trials[0].value, trials[3].value)


def test_a_sweep_whose_trials_all_fail_stops_non_zero(tmp_path: Path, quick_retrain: list[str],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    quick_retrain[:] = ["config"] * 10
    sweep_dir = tmp_path / "sweep"
    assert retrain_sweep(sweep_dir, "hydra.sweeper.n_trials=10") == 2
    err = capsys.readouterr().err
    assert "The first 3 trials of the sweep all failed" in err and "not to this test's liking" in err
    assert "Traceback" not in err
    assert len(study_of(sweep_dir, "retrain_digits").trials) == 3 and (sweep_dir / "hpo_trials.csv").is_file()


@pytest.mark.slow  # three short sweeps (about 15 s); tests/hpo/test_study.py checks the direction on its own
def test_a_lower_is_better_objective_is_minimised_and_a_study_maximising_it_is_refused(
        tmp_path: Path, quick_retrain: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    quick_retrain[:] = ["perplexity"] * 3  # direction=auto: the first trial's job says its objective is minimised
    assert retrain_sweep(tmp_path / "min", "hydra.sweeper.direction=auto", "hydra.sweeper.n_trials=3") == 0
    trials = study_of(tmp_path / "min", "retrain_digits").trials
    results = yaml.safe_load((tmp_path / "min" / "optimization_results.yaml").read_text())
    assert results["direction"] == "minimize" and results["best_value"] == min(t.value for t in trials)
    assert [t.number for t in trials] == [0, 1, 2] and all(t.state == COMPLETE for t in trials)
    assert sorted(p.name for p in (tmp_path / "min").iterdir() if p.name.isdigit()) == ["0", "1", "2"]
    # the first trial's parameters are those the study would have asked for first
    quick_retrain[:] = ["perplexity"] * 2
    assert retrain_sweep(tmp_path / "set", "hydra.sweeper.direction=minimize", "hydra.sweeper.n_trials=2") == 0
    assert study_of(tmp_path / "set", "retrain_digits").trials[0].params == trials[0].params
    quick_retrain[:] = ["perplexity"]
    assert retrain_sweep(tmp_path / "max") == 2  # the preset maximises: stopped after the first trial
    err = capsys.readouterr().err
    assert "objective is val_perplexity, which is lower is better, but hydra.sweeper.direction=maximize" in err
    assert "Traceback" not in err and len(study_of(tmp_path / "max", "retrain_digits").trials) == 1


# --- mistakes ---------------------------------------------------------------------------------------------
def test_without_optuna_a_preset_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` raises ImportError
    assert retrain_sweep(tmp_path / "sweep") == 2
    err = capsys.readouterr().err
    assert 'pip install "nascli[hpo]"' in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_search_space_and_preset_mistakes_exit_2_with_one_message(tmp_path: Path, quick_retrain: list[str],
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert retrain_sweep(tmp_path / "s", "trainer.lr=tag(lg, interval(0.01, 0.1))") == 2
    assert "unknown tag(s) lg" in capsys.readouterr().err
    assert retrain_sweep(tmp_path / "s", "+hydra.sweeper.sampler.n_startup=3") == 2
    assert "did you mean 'n_startup_trials'" in capsys.readouterr().err
    assert retrain_sweep(tmp_path / "s", "hydra.sweeper.n_trials=1") == 0
    assert retrain_sweep(tmp_path / "s", "hydra.sweeper.direction=minimize") == 2  # the stored study maximises
    assert "made to maximize its objective" in capsys.readouterr().err
    assert nas("retrain", "hparams_search=retrain_digits", "genotype=unused", f"hydra.run.dir={tmp_path / 'r'}") == 2
    err = capsys.readouterr().err
    assert "run it with -m" in err and "Traceback" not in err


def test_help_imports_neither_torch_nor_optuna(tmp_path: Path) -> None:
    code = ("import sys; from nascli.cli import main\n"
            "for argv in (['--help'], ['search', '--help'], ['retrain', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('torch', 'optuna') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    assert "hparams_search: retrain_digits, search_digits" in out
