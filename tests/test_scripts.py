"""The benchmark scripts run (tiny settings) and print the tables their issues' notes quote."""

from __future__ import annotations

import subprocess
import sys

from nasrun import REPO


def run_script(name: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / name), *args], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def table_rows(out: str) -> dict[str, list[str]]:
    """First column -> the other cells, for every row of the printed tables (last table wins)."""
    rows = {}
    for line in out.splitlines():
        cells = [c for c in line.split("  ") if c.strip()]
        if len(cells) > 2:
            rows[cells[0].strip()] = [c.strip() for c in cells[1:]]
    return rows


def test_bench_strategies_prints_every_strategy(tmp_path) -> None:
    out = run_script("bench_strategies.py", "--seeds", "2", "--queries", "30", "--tasks", "cifar10",
                     "--plot", str(tmp_path / "curves.png"))
    rows = table_rows(out)
    assert {"random", "evolution", "genetic", "reinforce", "bo"} <= set(rows)
    assert (tmp_path / "curves.png").is_file()


def test_bench_strategies_runs_on_the_nb101_table(tmp_path) -> None:
    out = run_script("bench_strategies.py", "--table", "nb101", "--seeds", "1", "--queries", "25",
                     "--strategies", "random", "evolution", "--plot", str(tmp_path / "curves.png"))
    assert "cifar10: 292 architectures, best 94.71" in out  # the README's fact about the table
    assert {"random", "evolution"} <= set(table_rows(out))


def test_bench_meta_shows_the_prior_cutting_the_queries(tmp_path) -> None:
    out = run_script("bench_meta.py", "--seeds", "2", "--queries", "30", "--strategies", "evolution",
                     "--hide-top", "0.05", "--plot", str(tmp_path / "meta.png"))
    assert "cifar10 -> cifar100" in out and "cifar100 -> cifar10" in out and "without the target's top 5%" in out
    with_prior = table_rows(out)["evolution + prior"]
    assert with_prior[0] != ">30" and float(with_prior[0]) <= 5  # median queries to the top 1%
    assert (tmp_path / "meta.png").is_file()


def test_bench_search_times_a_one_shot_step() -> None:
    out = run_script("bench_search.py", "--sizes", "debug", "--steps", "1", "--space", "nb201", "--configs", "gdas")
    assert "gdas" in out and "debug" in out and "failed" not in out


def test_bench_train_times_the_baseline_and_the_trainer() -> None:
    out = run_script("bench_train.py", "--sizes", "debug", "--steps", "1", "--rows", "baseline,nascli auto")
    assert "baseline" in out and "nascli auto" in out and "failed" not in out
