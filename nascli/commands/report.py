"""nas report <dir>...: compare runs and sweeps in one table, with mean ± std over seeds, plots and an HTML page.

Not a Hydra app (it reads runs, it is not one): plain argparse, like `nas list`. Reads run
directories (report.json) and multirun folders (Hydra's sweep directory, ours or the Optuna
sweeper's); writes summary.csv, summary.md, runs.csv, the plots and a self-contained report.html.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from nascli.errors import NasError
from nascli.reports import pages, plots
from nascli.reports.runs import Run, find_runs, is_multirun
from nascli.reports.table import (SEED, config_label, display_rows, display_runs, lower_is_better, primary_metric,
                                  records, runs_frame, summarize)
from nascli.runtime.console import output, table
from nascli.runtime.files import storage_error, write_csv, write_text
from nascli.runtime.console import print_error

DESCRIPTION = """Compare runs: one table of every run (the overrides that differ, metrics, status, cost),
mean ± std over seeds per configuration (the differing overrides except seed), the best
configuration, search curves, the Pareto fronts of multi-objective searches, and a self-contained
report.html. Failed, interrupted, unfinished and unreadable runs are listed with their reason."""
EPILOG = """examples:
  nas report multirun/2026-11-26/11-28-51
  nas report outputs/2026-11-26/10-00-00 outputs/2026-11-26/10-05-00 --out cmp
  nas report multirun/<sweep> --metric params_m

Each metric ranks in its own direction: accuracies highest first; perplexity, loss, error, params,
FLOPs and latency lowest first (a search's objective: its metric's). --minimize / --maximize override it."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nas report", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="run directories or multirun folders")
    p.add_argument("--out", type=Path, default=None,
                   help="where to write (default: the first DIR if it is a multirun folder, else ./report-<time>)")
    p.add_argument("--metric", default="auto",
                   help="the metric that ranks configurations (default: the search objective, else test "
                        "accuracy, else validation accuracy)")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--minimize", action="store_true",
                     help="lower is better for --metric (the default for perplexity, loss, error, params, latency)")
    way.add_argument("--maximize", action="store_true", help="higher is better for --metric (the default otherwise)")
    p.add_argument("--no-plots", action="store_true", help="skip the pictures (faster)")
    return p


def out_dir(dirs: list[Path], given: Path | None) -> Path:
    """--out, or the first directory when it is a multirun folder, or ./report-<local time>."""
    if given is not None:
        return given
    if is_multirun(dirs[0]) and not (dirs[0] / "report.json").exists():
        return dirs[0]
    return Path.cwd() / f"report-{dt.datetime.now():%Y-%m-%d_%H-%M-%S}"


# The comparison's pictures: how each is drawn, and why it is not when no run has what it shows.
PICTURES = (
    (plots.search_curves, "search_curves.png", "no completed run is a search with trials (trials.csv)"),
    (plots.pareto_fronts, "pareto_fronts.png", "no completed run is multi-objective (pareto.csv: a search with "
                                               "hardware.objective=pareto writes its Pareto front)"),
)


def groups_of(rows: list[dict[str, Any]], runs: list[Run], keys: list[str]) -> dict[str, list[Run]]:
    """The completed runs by configuration label (as the summary names them, from their `rows` in the
    runs table), in first-seen order."""
    out: dict[str, list[Run]] = {}
    for row, run in zip(rows, runs):
        if run.status == "completed":
            out.setdefault(config_label(row, keys), []).append(run)
    return out


def draw(grouped: dict[str, list[Run]], out: Path) -> tuple[list[Path], list[str]]:
    """The pictures written to `out`, and a line for each one not drawn saying why."""
    pictures, notes = [], []
    for picture, name, missing in PICTURES:
        saved = picture(grouped, out / name)
        if saved is not None:
            pictures.append(saved)
        else:
            notes.append(f"no {name}: {missing}")
    return pictures, notes


def build(args: argparse.Namespace, console: Console) -> Path:
    """The story: find the runs, tabulate, summarise over seeds, draw, write; returns the output folder."""
    runs = find_runs(args.dirs)
    frame = runs_frame(runs)
    metric = primary_metric(frame, args.metric)
    minimize = args.minimize or (not args.maximize and metric is not None and lower_is_better(frame, metric))
    summary = summarize(frame, metric, maximize=not minimize)
    metrics = frame.attrs["metrics"]
    out = out_dir(args.dirs, args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(out, exc) from None

    run_columns = [c for c in frame.columns if c != "reason"]
    run_rows = display_runs(frame)
    problems = [{"run": r["run"], "status": r["status"], "reason": r["reason"]} for r in run_rows
                if r["status"] != "completed"]
    summary_rows = display_rows(summary, metrics)
    summary_columns = [*summary.config_keys, "runs", "completed", *metrics, "wall_s", "work_s", "best"]
    best = best_text(summary, metric, minimize)

    console.print(table(f"{len(runs)} runs", run_rows, run_columns))
    console.print(table(f"per configuration: mean ± std over {SEED}s", summary_rows, summary_columns))
    if problems:
        console.print(table("runs that did not complete", problems, ["run", "status", "reason"]))
    console.print(escape(best), soft_wrap=True)

    grouped = groups_of(records(frame), runs, summary.config_keys)
    pictures, notes = draw(grouped, out) if not args.no_plots else ([], [])

    summary_csv = summary.table.rename(columns={"best": f"best_{metric or 'none'}"})
    write_text(out / "summary.csv", summary_csv.to_csv(index=False))
    write_csv(out / "runs.csv", [{**r, "path": str(run.path)} for r, run in zip(records(frame), runs)],
              [*frame.columns, "path"])
    title = f"nas report: {len(runs)} runs, {len(summary_rows)} configurations"
    write_text(out / "summary.md", pages.markdown(title, best, summary_rows, summary_columns, run_rows, run_columns,
                                                  problems, pictures, notes))
    write_text(out / "report.html", pages.page(title, [str(d) for d in args.dirs], best, summary_rows,
                                               summary_columns, run_rows, run_columns, problems, pictures, notes))
    for note in notes:
        console.print(escape(note), soft_wrap=True)
    console.print(f"wrote summary.csv, summary.md, runs.csv, report.html"
                  f"{''.join(', ' + p.name for p in pictures)} to {escape(str(out))}", soft_wrap=True)
    return out


def best_text(summary: Any, metric: str | None, minimize: bool) -> str:
    """One line naming the best configuration, its score and its runs."""
    if summary.best is None:
        return f"best configuration: none (no completed run reports {metric or 'a metric'})"
    row = summary.best
    std = row[f"{metric}_std"]
    score = f"{row[f'{metric}_mean']:.3f}" + ("" if math.isnan(std) else f" ± {std:.3f}")
    return (f"best configuration ({'lowest' if minimize else 'highest'} mean {metric}): "
            f"{config_label(row, summary.config_keys)}: {score} over {int(row['completed'])} completed run(s)")


def main(argv: list[str]) -> int:
    """Entry point of `nas report`: exit 0 with the report written, 2 on a user mistake."""
    args = parser().parse_args(argv)  # argparse exits 2 itself on a bad option
    try:
        build(args, output())
    except NasError as exc:
        print_error("report", str(exc))
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
