"""The `nas` command line: help, version, subcommands, Hydra's own options, exit status 2 for every
mistake Hydra finds while composing, `nas list`, and no torch where it is not needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from nasrun import nas

from nascli import __version__
from nascli.cli import NOT_HYDRA, SUBCOMMANDS
from nascli.registry import STRATEGIES

APPS = [name for name in SUBCOMMANDS if name not in NOT_HYDRA]


def test_help_lists_every_subcommand(tmp_path: Path) -> None:
    result = nas("--help", cwd=tmp_path)
    assert result.code == 0
    for name in SUBCOMMANDS:
        assert name in result.out
    assert nas(cwd=tmp_path).out == result.out  # bare `nas` prints the same help


def test_version(tmp_path: Path) -> None:
    result = nas("--version", cwd=tmp_path)
    assert result.code == 0 and result.out.strip() == f"nascli {__version__}"


def test_unknown_subcommand_lists_subcommands_and_exits_2(tmp_path: Path) -> None:
    result = nas("serach", cwd=tmp_path)
    assert result.code == 2
    assert "unknown subcommand 'serach'" in result.err
    assert "search" in result.err and "retrain" in result.err
    assert "Traceback" not in result.text


def _imports_torch(argv: list[str], cwd: Path) -> bool:
    code = (
        "import sys; from nascli.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[-1] == "TORCH"


def test_help_into_a_pipe_closed_early_is_quiet(tmp_path: Path) -> None:
    """`nas --help | head -1` (here `| true`, a reader gone before nas writes): no BrokenPipeError traceback."""
    proc = subprocess.run(f"{sys.executable} -m nascli --help | true", shell=True, cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.stderr == ""


def test_help_and_cfg_job_do_not_import_torch(tmp_path: Path) -> None:
    assert not _imports_torch(["--help"], tmp_path)
    assert not _imports_torch(["search", "--help"], tmp_path)
    assert not _imports_torch(["search", "--cfg", "job"], tmp_path)


def test_every_app_composes_its_config(tmp_path: Path) -> None:
    for name in APPS:
        result = nas(name, "--cfg", "job", cwd=tmp_path)
        assert result.code == 0, result.text
    assert "_target_: nascli.meta.transfer.TransferMethod" in nas("meta-train", "--cfg", "job", cwd=tmp_path).out


def test_subcommand_help_is_hydras_with_config_groups(tmp_path: Path) -> None:
    result = nas("search", "--help", cwd=tmp_path)
    assert result.code == 0
    for group in ("dataset:", "search_space:", "strategy:", "evaluator:", "hardware:", "trainer:", "debug:", "experiment:"):
        assert group in result.out


@pytest.mark.parametrize(("app", "own", "others"), [
    ("search", ["strategy:", "evaluator:", "budget:"], ["finetune:", "method:", "tasks:"]),
    ("retrain", ["finetune:", "trainer:"], ["strategy:", "method:", "tasks:"]),
    ("meta-train", ["method:", "tasks:"], ["finetune:", "strategy:"]),
])
def test_subcommand_help_lists_only_its_own_groups(tmp_path: Path, app: str, own: list[str], others: list[str]) -> None:
    groups = nas(app, "--help", cwd=tmp_path).out.split("== Configuration groups ==")[1].split("== Config ==")[0]
    lines = [line.split(" ")[0] for line in groups.splitlines()]
    assert all(g in lines for g in own) and not any(g in lines for g in others), groups


def test_overrides_and_plus_keys_show_in_cfg_job(tmp_path: Path) -> None:
    result = nas("search", "strategy=random", "dataset=mnist", "seed=7", "+extra.note=hi", "--cfg", "job", cwd=tmp_path)
    assert result.code == 0, result.text
    assert "seed: 7" in result.out and "name: mnist" in result.out and "note: hi" in result.out


def test_wrong_group_option_gets_hydras_list_and_exit_2(tmp_path: Path) -> None:
    result = nas("search", "strategy=nope", cwd=tmp_path)
    assert result.code == 2
    assert "Could not find 'strategy/nope'" in result.err and "random" in result.err
    assert "Traceback" not in result.text


@pytest.mark.parametrize(("app", "override", "key", "meant"), [
    ("search", "strategy.ordre=first", "ordre", "order"),
    ("retrain", "trainer.lrr=0.1", "lrr", "lr"),
    ("meta-train", "method.stepz=2", "stepz", None),
    ("search", "budget.trialz=3", "trialz", "trials"),
])
def test_a_mistyped_key_exits_2_naming_it_and_the_valid_ones(tmp_path: Path, app: str, override: str, key: str,
                                                             meant: str | None) -> None:
    args = ["strategy=darts"] if app == "search" else ["method=reptile"] if app == "meta-train" else []
    result = nas(app, *args, override, f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path)
    assert result.code == 2, result.text
    assert f"has no option '{key}'" in result.err and "Its options are:" in result.err
    assert meant is None or f"did you mean '{meant}'" in result.err
    assert "Traceback" not in result.text and not (tmp_path / "r").exists()  # nothing ran, nothing written
    assert "Could not override" not in result.err and "HYDRA_FULL_ERROR" not in result.err  # one message: ours


def test_a_key_of_another_group_is_named_with_its_group(tmp_path: Path) -> None:
    """DARTS's epochs are its trainer's: `strategy.epoch=3` points at trainer.epochs, in one message."""
    result = nas("search", "strategy=darts", "strategy.epoch=3", cwd=tmp_path)
    assert result.code == 2, result.text
    assert result.err.count("error:") == 1 and "did you mean trainer.epochs?" in result.err
    assert "+strategy.epoch" not in result.err


@pytest.mark.slow
def test_a_config_mistake_found_after_composing_writes_no_run_directory(tmp_path: Path) -> None:
    """`+strategy.foo=1` composes (a new key) and is refused when the strategy is built: no directory
    is left behind, not even outputs/<date>/; a directory the user made is never removed."""
    result = nas("search", "debug=smoke", "+strategy.foo=1", cwd=tmp_path)
    assert result.code == 2 and "has no option 'foo'" in result.err, result.text
    assert not (tmp_path / "outputs").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    again = nas("search", "debug=smoke", "+strategy.foo=1", f"hydra.run.dir={mine}", cwd=tmp_path)
    assert again.code == 2 and mine.is_dir()


def test_a_resume_s_key_of_a_group_the_defaults_lack_says_how_to_name_it(tmp_path: Path) -> None:
    """Hydra composes a resume's command line with the defaults (strategy=random) before the runner
    applies it to the run's own settings (strategy=darts): the message says to name the group."""
    result = nas("search", "resume=true", "strategy.compile=none", f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path)
    assert result.code == 2, result.text
    assert "has no option 'compile'" in result.err and "strategy=darts strategy.compile=none" in result.err


def test_shell_completion_covers_subcommands_and_their_overrides(tmp_path: Path) -> None:
    install = nas("-sc", "install=bash", cwd=tmp_path)
    assert install.code == 0 and "complete" in install.out
    first = nas("-sc", "query=bash", cwd=tmp_path, env={"COMP_LINE": "nas se", "COMP_POINT": "6"})
    assert first.out.split() == ["search"]
    groups = nas("-sc", "query=bash", cwd=tmp_path, env={"COMP_LINE": "nas search strategy=", "COMP_POINT": "20"})
    assert "strategy=random" in groups.out.split()


def test_unknown_meta_train_method_is_refused_clearly(tmp_path: Path) -> None:
    result = nas("meta-train", "tasks.table=nb201", "method=maml", f"hydra.run.dir={tmp_path / 'meta'}", cwd=tmp_path)
    assert result.code == 2
    assert "Could not find 'method/maml'" in result.err and "reptile" in result.err and "transfer" in result.err


@pytest.mark.slow
def test_nas_list_shows_every_registered_strategy_and_an_options_defaults(tmp_path: Path) -> None:
    listed = nas("list", "strategy", cwd=tmp_path)
    assert listed.code == 0, listed.text
    assert all(name in listed.out for name in STRATEGIES.names()) and "one-shot" in listed.out
    options = nas("list", "strategy", "pcdarts", cwd=tmp_path)
    assert options.code == 0 and "partial_channels: 4" in options.out and "lr: 0.0006" in options.out
    assert "order: first" in options.out and "early_stop_skip: null" in options.out  # inherited from darts.yaml
    assert "trainer=pcdarts_search" in options.out and "batch_size: 256" in options.out  # its weights' recipe
    assert "momentum: 0.9" in options.out  # inherited from trainer/darts_search.yaml
    bad = nas("list", "strategies", cwd=tmp_path)
    assert bad.code == 2 and "search_space, strategy, evaluator, hardware" in bad.err


@pytest.mark.slow
def test_latency_table_takes_check_as_an_option(tmp_path: Path) -> None:
    result = nas("latency-table", "debug=smoke", "search_space.cells_per_stage=1", "--check", "3",
                 f"hydra.run.dir={tmp_path / 'lt'}", cwd=tmp_path)
    assert result.code == 0, result.text
    assert "MAPE" in result.out and (tmp_path / "lt" / "latency_table.csv").is_file()
    with open(tmp_path / "lt" / "check.csv") as handle:
        assert len(handle.readlines()) == 4  # header and the 3 networks asked for
