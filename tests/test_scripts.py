"""The benchmark scripts run (tiny settings) and print the tables their issues' notes quote."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from nasrun import REPO


def run_script(name: str, *args: str, fresh: bool = False) -> str:
    """`python scripts/<name> <args>`, its printed output; a failure's exit or exception fails the
    test. In this process (its __main__ run as the interpreter would: no fresh interpreter's start,
    torch's import alone is seconds, for each script), or in a `fresh` one where the script measures
    its own process (peak RSS)."""
    import contextlib
    import io
    import runpy

    import torch

    if fresh:
        proc = subprocess.run([sys.executable, str(REPO / "scripts" / name), *args], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    out, argv, threads = io.StringIO(), sys.argv, torch.get_num_threads()
    sys.argv = [str(REPO / "scripts" / name), *args]
    try:
        with contextlib.redirect_stdout(out):
            try:
                runpy.run_path(sys.argv[0], run_name="__main__")
            except SystemExit as exit_:
                assert exit_.code in (None, 0), f"{name} exited {exit_.code}:\n{out.getvalue()[-3000:]}"
    finally:
        sys.argv = argv
        torch.set_num_threads(threads)  # a script may set its own
    return out.getvalue()


def table_rows(out: str) -> dict[str, list[str]]:
    """First column -> the other cells, for every row of the printed tables (last table wins)."""
    rows = {}
    for line in out.splitlines():
        cells = [c for c in line.split("  ") if c.strip()]
        if len(cells) > 2:
            rows[cells[0].strip()] = [c.strip() for c in cells[1:]]
    return rows


@pytest.mark.slow
def test_bench_strategies_prints_every_strategy(tmp_path) -> None:
    out = run_script("bench_strategies.py", "--seeds", "2", "--queries", "30", "--tasks", "cifar10",
                     "--plot", str(tmp_path / "curves.png"))
    rows = table_rows(out)
    assert {"random", "evolution", "genetic", "reinforce", "bo"} <= set(rows)
    assert (tmp_path / "curves.png").is_file()


@pytest.mark.slow
def test_bench_strategies_runs_on_the_nb101_table(tmp_path) -> None:
    out = run_script("bench_strategies.py", "--table", "nb101", "--seeds", "1", "--queries", "25",
                     "--strategies", "random", "evolution", "--plot", str(tmp_path / "curves.png"))
    assert "cifar10: 292 architectures, best 94.71" in out  # the README's fact about the table
    assert {"random", "evolution"} <= set(table_rows(out))


@pytest.mark.slow
def test_bench_meta_shows_the_prior_cutting_the_queries(tmp_path) -> None:
    out = run_script("bench_meta.py", "--seeds", "2", "--queries", "30", "--strategies", "evolution",
                     "--hide-top", "0.05", "--plot", str(tmp_path / "meta.png"))
    assert "cifar10 -> cifar100" in out and "cifar100 -> cifar10" in out and "without the target's top 5%" in out
    with_prior = table_rows(out)["evolution + prior"]
    assert with_prior[0] != ">30" and float(with_prior[0]) <= 5  # median queries to the top 1%
    assert (tmp_path / "meta.png").is_file()


@pytest.mark.slow
def test_bench_search_times_a_one_shot_step() -> None:
    out = run_script("bench_search.py", "--sizes", "debug", "--steps", "1", "--space", "nb201", "--configs", "gdas",
                     "--size", "cells_per_stage=1,batch=32")
    assert "gdas" in out and "debug" in out and "failed" not in out


@pytest.mark.slow
def test_bench_search_runs_compile_modes_and_finds_the_reference(tmp_path) -> None:
    """A checkout of the DARTS reference is found (its cnn/ folder) and imported, then refused on CPU
    with the reason; graphs is refused on CPU; the eager row is measured, memory per image included."""
    cnn = tmp_path / "darts" / "cnn"
    cnn.mkdir(parents=True)
    (cnn / "model_search.py").write_text("class Network:\n    pass\n")
    (cnn / "architect.py").write_text("class Architect:\n    pass\n")
    out = run_script("bench_search.py", "--sizes", "debug", "--steps", "1", "--space", "nb201", "--configs",
                     "darts-1st", "--compile", "none,graphs", "--reference", str(tmp_path / "darts"), "--check-memory",
                     "--size", "cells_per_stage=1,batch=32", fresh=True)  # peak RSS: of its own process
    rows = {tuple(cells[1:3]): cells[3:] for line in out.splitlines()
            if len(cells := [c.strip() for c in line.split("│")]) > 3}
    eager = rows[("darts-1st", "none")]
    assert float(eager[5]) > 0 and float(eager[7]) > 0  # images/s, MB per image
    assert rows[("darts-1st", "graphs")][4] == "failed" and rows[("reference darts-1st", "none")][4] == "failed"
    assert "graphs=true captures the training step as a CUDA graph" in out and "runs only with --device cuda" in out
    assert "its modules were found and import" in out
    assert "--check-memory needs darts-1st and pcdarts rows" in out


def test_bench_search_refuses_a_reference_path_without_the_code(tmp_path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_search.py"), "--reference", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "model_search.py and architect.py" in proc.stderr


@pytest.mark.slow
def test_bench_train_times_the_baseline_and_the_trainer() -> None:
    out = run_script("bench_train.py", "--sizes", "debug", "--steps", "1", "--rows", "baseline,nascli auto")
    assert "baseline" in out and "nascli auto" in out and "failed" not in out


@pytest.mark.slow
def test_bench_data_prints_decode_speed_start_and_peak_rss() -> None:
    out = run_script("bench_data.py", "--images", "40", "--rss-images", "30", "--rss-size", "16", "--image-size", "16",
                     "--rss-factors", "2")  # one dataset over the limit: streamed, and held when the limit allows
    assert "first run, images/s" in out and "second run start, s" in out
    assert "peak RSS of build + one epoch" in out and "streamed" in out


@pytest.mark.slow
def test_bench_baselines_prints_the_searched_network_beside_the_baselines() -> None:
    out = run_script("bench_baselines.py", "--smoke", "--datasets", "folder", "--trials", "2", "--per-class", "8",
                     "--baselines", "mobilenet_v3_small")
    rows = table_rows(out)
    assert {"searched (nb201)", "mobilenet_v3_small"} <= set(rows)
    assert float(rows["mobilenet_v3_small"][2]) > 1  # params M: MobileNetV3-Small's 1.5 M
    assert "folder: " in out and "test accuracy" in out


@pytest.mark.slow
def test_bench_tabular_prints_the_search_beside_both_baselines() -> None:
    out = run_script("bench_tabular.py", "--datasets", "wine", "--seeds", "1", "--trials", "1")
    rows = table_rows(out)
    assert "wine" in rows and len(rows["wine"]) == 5 and "±" in rows["wine"][0]
    assert "hist gradient boosting" in out and "logistic regression" in out


@pytest.mark.slow
def test_bench_rnn_times_the_recurrent_search_step_against_the_reference() -> None:
    out = run_script("bench_rnn.py", "--nodes", "2", "--nhid", "8", "--vocab", "50", "--batch", "2", "--bptt", "4",
                     "--steps", "1")
    assert "nascli supernet" in out and "reference rnn/model_search.py" in out and "load average" in out
    assert "tokens/s" in out and "without its batch norm" in out and "vs it without BN" in out


@pytest.mark.slow
def test_bench_parallel_prints_speed_ups_on_the_simulated_clock() -> None:
    out = run_script("bench_parallel.py", "--tables", "nb201", "--seeds", "1", "--workers", "1", "4",
                     "--compute", "40")
    for strategy in ("random", "evolution", "bo", "asha"):  # a row per strategy and workers count
        assert re.search(rf"{strategy}\s*│\s*1\s*│\s*[01]/1\s*│", out), out
    assert re.search(r"│\s*4\s*│\s*[01]/1\s*│", out) and "1.0x" in out
    assert "rank correlation" in out and "7 epochs" in out  # asha's simulated curve, at its lowest rung
