"""nas report: a real 2x2 joblib sweep (two strategies x two seeds) compared in one table, with
mean ± std over seeds, the best configuration, plots and a self-contained HTML page; runs that
failed, were interrupted, never finished or never reported are listed with their reason, alone or
mixed with others; a folder that is not a run, or a sweep with no job, is exit 2; a picture no run
can give is said, never listed; tables in a file or pipe keep whole values."""

from __future__ import annotations

import csv
import html
import json
import shutil
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from nasrun import REPO, nas, read_json, run, stopped
from sharing import built_once

from nascli.commands.report import main as report_main

STRATEGIES = ("random", "reinforce")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """`nas search -m` over 2 strategies x 2 seeds with the joblib launcher, two jobs at a time;
    objective=pareto so that each run also writes a Pareto front. Made once for all workers, and
    only read: a test that reports it (into the folder) reports a copy."""
    def build(cwd: Path) -> None:
        result = nas("search", "-m", "debug=smoke", "seed=0,1", f"strategy={','.join(STRATEGIES)}",
                     "hardware.objective=pareto", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                     f"hydra.sweep.dir={cwd / 'sweep'}", cwd=cwd)
        assert result.code == 0, result.text

    return built_once(tmp_path_factory, worker_id, "report-sweep", build) / "sweep"


@pytest.fixture(scope="module")
def unfinished(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, Path]:
    """Real runs that did not complete: a retrain whose genotype does not exist (failed), a search
    stopped with Ctrl-C after its first trial (interrupted), one killed then (report.json still
    `running`, no `finished`); and a completed single-objective search beside them. Made once for
    all workers, and only read."""
    names = ("failed", "interrupted", "killed", "completed")

    def build(root: Path) -> None:
        dirs = {name: root / name for name in names}
        assert run("retrain", "debug=smoke", "genotype=/does/not/exist", run_dir=dirs["failed"]).code == 2
        stopped(["search", "debug=smoke", "budget.trials=5000"],  # minutes of trials: it ends by its signal
                {dirs["interrupted"]: signal.SIGINT, dirs["killed"]: signal.SIGKILL}, cwd=root)
        assert run("search", "debug=smoke", "plots=false", run_dir=dirs["completed"]).code == 0
        for name, status in (("failed", "failed"), ("interrupted", "interrupted"), ("killed", "running")):
            assert read_json(dirs[name] / "report.json")["status"] == status, name

    root = built_once(tmp_path_factory, worker_id, "report-unfinished", build)
    return {name: root / name for name in names}


def summary_rows(folder: Path) -> dict[str, dict[str, str]]:
    with open(folder / "summary.csv", newline="") as handle:
        return {row["strategy"]: row for row in csv.DictReader(handle)}


def objectives(sweep: Path, strategy: str) -> list[float]:
    """The best objective of each of a strategy's runs, read by hand from their report.json."""
    reports = [read_json(p) for p in sorted(sweep.glob("*/report.json"))]
    return [r["best"]["objective"] for r in reports if f"strategy={strategy}" in r["argv"]]


@pytest.mark.slow
def test_a_2x2_sweep_gives_mean_and_std_over_seeds_and_the_best_configuration(sweep: Path, tmp_path: Path) -> None:
    sweep = shutil.copytree(sweep, tmp_path / "sweep")  # the report goes into the folder: a copy of the shared one
    result = nas("report", str(sweep), cwd=tmp_path)
    assert result.code == 0, result.text
    assert "per configuration: mean ± std over seeds" in result.out and "best configuration" in result.out

    rows = summary_rows(sweep)  # a multirun folder is its own default --out
    assert set(rows) == set(STRATEGIES)
    means = {}
    for strategy, row in rows.items():
        by_hand = objectives(sweep, strategy)
        assert len(by_hand) == 2 and row["runs"] == row["completed"] == "2"
        assert float(row["objective_mean"]) == pytest.approx(statistics.mean(by_hand))
        assert float(row["objective_std"]) == pytest.approx(statistics.stdev(by_hand))
        means[strategy] = statistics.mean(by_hand)
    best = max(means, key=means.get)
    assert rows[best]["best_objective"] == "*"
    assert f"strategy={best}: {means[best]:.3f}" in result.out
    assert f"strategy={best}: {means[best]:.3f}" in (sweep / "summary.md").read_text()

    with open(sweep / "runs.csv", newline="") as handle:
        runs = list(csv.DictReader(handle))
    assert [(r["seed"], r["strategy"], r["status"]) for r in runs] == [
        ("0", "random", "completed"), ("0", "reinforce", "completed"),
        ("1", "random", "completed"), ("1", "reinforce", "completed")]
    assert all(float(r["wall_s"]) >= 0 and r["trials"] == "3" for r in runs)

    page = (sweep / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2  # search curves and Pareto fronts, embedded
    assert "http://" not in page and "https://" not in page and "<script" not in page  # nothing fetched
    for name in ("search_curves.png", "pareto_fronts.png"):
        assert (sweep / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_failed_and_unreported_runs_are_listed_with_their_reason(sweep: Path, tmp_path: Path, capsys) -> None:
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    failed = copy / "4"  # a job whose command failed: its report says why
    shutil.copytree(copy / "1", failed)
    report = read_json(failed / "report.json")
    report.update(status="failed", error="loss is nan at epoch 1",
                  argv=["seed=2" if arg == "seed=0" else arg for arg in report["argv"]])
    del report["best"]
    (failed / "report.json").write_text(json.dumps(report))
    killed = copy / "5"  # a job killed before its command wrote anything: only Hydra's files
    shutil.copytree(copy / "0" / ".hydra", killed / ".hydra")
    (copy / "6").mkdir()  # a job killed before Hydra wrote anything
    (copy / "report").mkdir()  # not a job: an earlier report's folder, say

    assert report_main([str(copy), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    with open(tmp_path / "out" / "runs.csv", newline="") as handle:
        runs = {r["run"]: r for r in csv.DictReader(handle)}
    assert list(runs) == [f"sweep/{n}" for n in range(7)]
    assert runs["sweep/4"]["status"] == "failed" and runs["sweep/4"]["reason"] == "loss is nan at epoch 1"
    assert runs["sweep/5"]["status"] == "missing" and "no report.json" in runs["sweep/5"]["reason"]
    assert runs["sweep/5"]["strategy"] == "random"  # its overrides, read from .hydra/overrides.yaml
    assert runs["sweep/6"]["status"] == "missing" and runs["sweep/6"]["strategy"] == ""
    rows = summary_rows(tmp_path / "out")
    assert (rows["reinforce"]["runs"], rows["reinforce"]["completed"]) == ("3", "2")  # counted, not averaged
    assert float(rows["reinforce"]["objective_mean"]) == pytest.approx(statistics.mean(objectives(sweep, "reinforce")))
    assert "loss is nan at epoch 1" in out
    for name in ("summary.md", "report.html"):
        text = (tmp_path / "out" / name).read_text()
        assert "Runs that did not complete" in text and "loss is nan at epoch 1" in text and "no report.json" in text


@pytest.mark.slow
def test_single_run_directories_compare_into_a_timestamped_folder(sweep: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert report_main([str(sweep / "0"), str(sweep / "2"), "--metric", "params_m", "--minimize", "--no-plots"]) == 0
    (folder,) = tmp_path.glob("report-*")
    with open(folder / "summary.csv", newline="") as handle:
        (row,) = csv.DictReader(handle)  # the two runs differ only in seed: one configuration
    assert row["runs"] == "2" and row["best_params_m"] == "*"
    assert not list(folder.glob("*.png"))


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["nowhere"], "nowhere: no such directory"),
    (["empty"], "empty: not a run directory (no report.json) nor a multirun folder (no multirun.yaml or job "
                "directories); it holds no run."),
    (["outputs"], "outputs: not a run directory (no report.json) nor a multirun folder (no multirun.yaml or job "
                  "directories); it holds 1 run(s) further down, such as outputs/2026-12-03/09-00-00: give those, "
                  "e.g. `nas report outputs/*/*`."),
    (["stopped_sweep"], "stopped_sweep: a multirun folder with no job in it: the sweep was stopped before its first "
                        "job started (or is starting now); there is nothing to report."),
    (["sweep", "--metric", "latency"], "--metric latency: no run reports it"),
])
def test_mistakes_and_empty_inputs_are_exit_2_naming_the_problem(sweep: Path, tmp_path: Path, args: list[str],
                                                                 message: str) -> None:
    (tmp_path / "empty").mkdir()
    shutil.copytree(sweep, tmp_path / "sweep")
    shutil.copytree(sweep / "0", tmp_path / "outputs" / "2026-12-03" / "09-00-00")  # where `nas search` writes
    (tmp_path / "stopped_sweep").mkdir()  # what a sweep killed before its first job leaves
    shutil.copy(sweep / "multirun.yaml", tmp_path / "stopped_sweep")
    result = nas("report", *args, cwd=tmp_path)
    assert result.code == 2 and message in result.err and "Traceback" not in result.text


REASONS = {
    "failed": "No genotype at '/does/not/exist'",
    "interrupted": "interrupted by the user (Ctrl-C); resume=true continues it",
    "killed": "never finished: still running, or stopped without a word (killed, out of memory); resume=true "
              "continues it",
}


@pytest.mark.slow
@pytest.mark.parametrize("names", [["failed"], ["interrupted"], ["killed"], ["failed", "interrupted", "killed"]],
                         ids="+".join)
def test_runs_that_did_not_complete_are_a_report_of_their_reasons(unfinished: dict[str, Path], tmp_path: Path,
                                                                  capsys, names: list[str]) -> None:
    out = tmp_path / "out"
    assert report_main([str(unfinished[n]) for n in names] + ["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    with open(out / "runs.csv", newline="") as handle:
        runs = {Path(r["path"]).name: r for r in csv.DictReader(handle)}
    assert list(runs) == names
    for name in names:
        assert runs[name]["reason"].startswith(REASONS[name]) and REASONS[name] in printed
    if "interrupted" in runs:
        assert runs["interrupted"]["trials"] == "1"  # the trials it wrote before Ctrl-C (trials.csv)
    assert "best configuration: none (no completed run reports a metric)" in printed
    assert "no search_curves.png: no completed run is a search with trials" in printed
    for name, quoted in (("summary.md", str), ("report.html", html.escape)):
        text = (out / name).read_text()
        assert "Runs that did not complete" in text and all(quoted(r["reason"]) in text for r in runs.values())
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "runs.csv", "summary.csv", "summary.md"]


@pytest.mark.slow
def test_a_mix_ranks_the_completed_run_and_lists_the_others(unfinished: dict[str, Path], tmp_path: Path,
                                                            capsys) -> None:
    names = ["completed", "failed", "interrupted", "killed"]
    assert report_main([str(unfinished[n]) for n in names] + ["--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    objective = read_json(unfinished["completed"] / "report.json")["best"]["objective"]
    assert f"best configuration (highest mean objective): command=search plots=false: {objective:.3f}" \
           f" over 1 completed run(s)" in printed
    assert all(REASONS[n] in printed for n in names[1:])
    with open(tmp_path / "out" / "summary.csv", newline="") as handle:
        rows = {(r["command"], r["budget.trials"]): (r["runs"], r["completed"]) for r in csv.DictReader(handle)}
    assert rows == {("search", ""): ("1", "1"), ("retrain", ""): ("1", "0"), ("search", "5000"): ("2", "0")}


@pytest.mark.slow
def test_a_picture_no_run_can_give_is_said_and_never_listed(unfinished: dict[str, Path], tmp_path: Path,
                                                            capsys) -> None:
    """A single-objective search has a search curve and no Pareto front."""
    out = tmp_path / "out"
    assert report_main([str(unfinished["completed"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert ("no pareto_fronts.png: no completed run is multi-objective (pareto.csv: a search with "
            "hardware.objective=pareto writes its Pareto front)") in printed
    wrote = printed.split("wrote ", 1)[1].split(" to ")[0].split(", ")
    assert sorted(wrote) == sorted(p.name for p in out.iterdir()) == [
        "report.html", "runs.csv", "search_curves.png", "summary.csv", "summary.md"]
    assert "no pareto_fronts.png" in (out / "summary.md").read_text()
    assert "no pareto_fronts.png" in (out / "report.html").read_text()


@pytest.mark.slow
def test_tables_in_a_file_or_pipe_keep_whole_values(sweep: Path, tmp_path: Path) -> None:
    """Redirected, rich would cut every line at 80 columns ("rein…"); the report's tables are as wide as they need."""
    shutil.copytree(sweep, tmp_path / "sweep")
    result = nas("report", "sweep", "--no-plots", cwd=tmp_path, env={"COLUMNS": "80"})
    assert result.code == 0, result.text
    assert "…" not in result.out
    lines = result.out.splitlines()
    for job, (seed, strategy) in enumerate([("0", "random"), ("0", "reinforce"), ("1", "random"), ("1", "reinforce")]):
        (row,) = [line for line in lines if f" sweep/{job} " in line]
        assert [cell.strip() for cell in row.split("│")[1:4]] == [f"sweep/{job}", seed, strategy]
    assert max(map(len, lines)) > 80


@pytest.mark.slow
def test_the_page_renders_in_headless_chromium(sweep: Path, tmp_path: Path) -> None:
    """The evidence the issue asks for: scripts/screenshot_report.py opens report.html in Chromium."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import screenshot_report
    finally:
        sys.path.pop(0)
    if screenshot_report.find_browser() is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    sweep = shutil.copytree(sweep, tmp_path / "sweep")  # the report goes into the folder: a copy of the shared one
    assert report_main([str(sweep)]) == 0
    shot = tmp_path / "report.png"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "screenshot_report.py"), str(sweep / "report.html"),
                           str(shot), "--height", "1600"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert screenshot_report.png_size(shot) == (1280, 1600)
    assert shot.stat().st_size > 20_000  # tables and plots drawn, not a blank page
