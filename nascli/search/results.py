"""What a finished search leaves: genotype.json, the search curve, the report and a summary table.

Every best, top and front here is in the objective's direction (nascli.runtime.metrics): a
lower-is-better metric (perplexity) has its lowest value best, shown as measured, never negated."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console

from nascli import pareto
from nascli import run_plots as draw
from nascli.genotype_file import genotype_record
from nascli.hardware.objective import SearchObjective
from nascli.hardware.target import HardwareTarget
from nascli.runtime import metrics as by_name
from nascli.runtime.console import table
from nascli.runtime.files import write_csv, write_json
from nascli.runtime.run_report import RunReport, markdown_table
from nascli.search.trials import TrialLog
from nascli.spaces.base import SearchSpace

SHOWN = ["trial", "arch_str", "objective", "val_accuracy", "fidelity", "params_m", "flops_m", "latency_ms", "cost_s"]


def shown_columns(metric: str, reward: bool = False) -> list[str]:
    """The columns people see: the contract's, with the evaluator's metric when it is another one
    (e.g. a zero-cost proxy's zc_<name>); a reward's objective is headed `reward`, so that it does not
    read as the accuracy beside it (trials.csv keeps the column `objective`)."""
    shown = SHOWN if metric in SHOWN else [*SHOWN[:3], metric, *SHOWN[3:]]
    return [REWARD if c == "objective" and reward else c for c in shown]


REWARD = "reward"


def shown_rows(rows: list[dict[str, Any]], reward: bool) -> list[dict[str, Any]]:
    """Rows as tables show them: the objective under `reward` when it is one."""
    return [{**r, REWARD: r.get("objective")} for r in rows] if reward else rows


def top_fidelity(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows scored at the highest fidelity (epochs) that any scored row reached: accuracies
    after fewer epochs are not comparable with them. All rows when no row has a fidelity."""
    scored = [r for r in rows if r.get("fidelity") is not None and r.get("objective") is not None]
    if not scored:
        return rows
    highest = max(r["fidelity"] for r in scored)
    return [r for r in rows if r.get("fidelity") == highest]


def top_rows(rows: list[dict[str, Any]], n: int = 10, metric: str = "val_accuracy") -> list[dict[str, Any]]:
    """The `n` rows of the best objective, best first, in `metric`'s direction."""
    key = by_name.metric(metric).rank_key
    return sorted((r for r in rows if r.get("objective") is not None), key=lambda r: key(r["objective"]))[:n]


def curve_label(metric: str, reward: str | None) -> str:
    """The search curve's y axis: what the objective is, and which way is better when it is lower."""
    kind = by_name.metric(metric)
    if reward:
        label = f"reward (MnasNet: {metric if kind.lower_is_better else 'accuracy'} and latency)"
    else:
        label = "objective (validation accuracy, %)" if metric == "val_accuracy" else f"objective ({metric})"
    return f"{label}, lower is better" if kind.lower_is_better else label


def objective_record(metric: str) -> dict[str, str]:
    """report.json's `objective_metric`: the metric the objective is made of and which way is better."""
    return by_name.metric(metric).describe()


def write(run_dir: Path, space: SearchSpace, trials: TrialLog, best: dict[str, Any], metric: str, stopped_by: str,
          report: RunReport, plots: bool, reward: str | None = None) -> list[str]:
    """genotype.json of `best`, the search curve, and the report's results and sections; returns
    the files written. `reward` says how the objective is made of the metric when it is not the metric."""
    metrics = {k: best[k] for k in shown_columns(metric)[2:] if best.get(k) is not None}
    shown = shown_columns(metric, reward is not None)
    write_json(run_dir / "genotype.json",
               genotype_record(space, space.from_str(best["arch_str"]), {**metrics, "trial": best["trial"]}))
    files = ["genotype.json", "trials.csv"]
    lower = by_name.lower_is_better(metric)
    if plots:
        draw.search_curve(trials.rows, run_dir / "search_curve.png", f"{space.name} search",
                          curve_label(metric, reward), lower)
        files.append("search_curve.png")
    top = shown_rows(top_rows(trials.rows, metric=metric), reward is not None)
    if reward:
        report.results["objective_is"] = reward
    report.results["objective_metric"] = objective_record(metric)
    report.results.update({"trials": len(trials), "stopped_by": stopped_by, "elapsed_s": round(trials.elapsed_s, 2),
                           "best": {"trial": best["trial"], "arch_str": best["arch_str"], **metrics}, "files": files})
    columns = [c for c in shown if any(r.get(c) is not None for r in top)]
    note = f"\n\nThe objective is {reward}." if reward else ""
    if lower:
        note += f"\n\nThe objective is {metric}: lower is better."
    report.sections.append(("Best architecture", f"`{best['arch_str']}`\n\n"
                            + markdown_table(shown_rows([best], reward is not None), columns[2:]) + note))
    report.sections.append((f"Top {len(top)} of {len(trials)} trials", markdown_table(top, columns)))
    if plots:
        report.sections.append(("Search curve", "![search curve](search_curve.png)"))
    return files


def print_summary(console: Console, best: dict[str, Any], rows: list[dict[str, Any]], metric: str,
                  stopped_by: str, run_dir: Path, reward: str | None = None) -> None:
    """The top trials as a table, then the result and where it was written."""
    top = shown_rows(top_rows(rows, metric=metric), reward is not None)
    columns = [c for c in shown_columns(metric, reward is not None) if c != "arch_str"
               and any(r.get(c) is not None for r in top)]
    reason = f"budget.{stopped_by}" if stopped_by in ("trials", "seconds") else f"the strategy's {stopped_by}"
    console.print(table(f"Top {len(top)} of {len(rows)} trials (stopped by {reason})", top, columns))
    console.print(f"result (trial {best['trial']}): [bold]{best['arch_str']}[/]", soft_wrap=True)
    kind = by_name.metric(metric)
    if kind.lower_is_better and best.get(metric) is not None:
        console.print(f"best {metric} {kind.text(best[metric])} ({kind.direction_text})", soft_wrap=True, highlight=False)
    if reward:
        console.print(f"reward: {reward}", soft_wrap=True, highlight=False)
    console.print(f"run directory: {run_dir}", soft_wrap=True)


# --- hard limits ---------------------------------------------------------------------------------
def constraints(objective: SearchObjective, best: dict[str, Any], rejections: Counter) -> dict[str, Any]:
    """Each hard limit: its value, the candidates over it, the result's own value, and whether it
    bound (rejected any candidate)."""
    out = {}
    for key, limit in objective.limits.items():
        if limit is not None:
            rejected = rejections.get(f"max_{key}", 0)
            out[f"max_{key}"] = {"limit": limit, "rejected": rejected, "result": best.get(key), "binds": rejected > 0}
    return out


def constraints_section(report: RunReport, hardware: HardwareTarget) -> None:
    """The hardware target and its limits in report.md."""
    lines = [f"- {key}: {value}" for key, value in hardware.describe().items() if key != "limits"]
    rows = [{"constraint": key, **value} for key, value in report.results.get("constraints", {}).items()]
    body = "\n".join(lines)
    if rows:
        body += "\n\nA limit binds when it rejected candidates (before training where cost is known without it).\n\n"
        body += markdown_table(rows, ["constraint", "limit", "rejected", "result", "binds"])
    report.sections.append(("Hardware target and limits", body))


# --- Pareto fronts ---------------------------------------------------------------------------------
def _point(r: dict[str, Any], metric: str, cost_metric: str) -> tuple[float, float]:
    """A row as a point to maximise in both parts: (the metric's score, -cost)."""
    return by_name.score(metric, r[metric]), -r[cost_metric]


def pareto_front(rows: list[dict[str, Any]], metric: str, cost_metric: str) -> list[dict[str, Any]]:
    """The non-dominated feasible rows (best `metric`, in its direction, and least `cost_metric`),
    cheapest first."""
    scored = [r for r in rows if r.get("objective") is not None and r.get(cost_metric) is not None]
    members = pareto.front([_point(r, metric, cost_metric) for r in scored])
    return sorted((scored[i] for i in members),
                  key=lambda r: (r[cost_metric], -by_name.score(metric, r[metric]), r["trial"]))


def choose(front: list[dict[str, Any]], metric: str, cost_metric: str, how: str) -> dict[str, Any] | None:
    """The result from a front: the best metric (`accurate`), the cheapest, or the knee."""
    if not front:
        return None
    score = by_name.metric(metric).score
    if how == "cheapest":
        return min(front, key=lambda r: (r[cost_metric], -score(r[metric]), r["trial"]))
    if how == "knee":
        return front[pareto.knee([_point(r, metric, cost_metric) for r in front], range(len(front)))]
    return max(front, key=lambda r: (score(r[metric]), -r[cost_metric], -r["trial"]))


def write_front(run_dir: Path, front: list[dict[str, Any]], best: dict[str, Any], rows: list[dict[str, Any]],
                metric: str, cost_metric: str, report: RunReport, plots: bool) -> list[str]:
    """pareto.csv (the front, cheapest first, the result marked), its plot, and its report section."""
    columns = ["trial", "arch_str", metric, cost_metric, *(c for c in ("params_m", "flops_m", "latency_ms")
                                                           if c != cost_metric), "chosen"]
    marked = [{**r, "chosen": r["trial"] == best["trial"]} for r in front]
    write_csv(run_dir / "pareto.csv", marked, columns)
    files = ["pareto.csv"]
    direction = " (lower is better)" if by_name.lower_is_better(metric) else ""
    body = (f"{len(front)} non-dominated of {len(rows)} trials ({metric}{direction} against {cost_metric}); the result is "
            f"trial {best['trial']}.\n\n" + markdown_table(marked, [c for c in columns if c != "arch_str"]))
    if plots:
        draw.pareto_front(rows, front, best, metric, cost_metric, run_dir / "pareto.png",
                          f"{metric} against {cost_metric}")
        files.append("pareto.png")
        body += "\n\n![Pareto front](pareto.png)"
    report.sections.append(("Pareto front", body))
    report.results["pareto"] = {"points": len(front), "cost": cost_metric,
                                "front": [{c: r.get(c) for c in columns} for r in marked]}
    return files
