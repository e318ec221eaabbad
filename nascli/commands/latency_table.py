"""nas latency-table: time every op of a search space at every shape it occurs in, on this machine's
CPU or GPU, and write the table (with the device, torch version and threads) that `hardware=lut`
estimates latency from; `check=N` measures the table's error on N random whole networks.

The networks' shape (classes, input channels and size) is the `dataset` group's, as `nas search`
takes it, so a table built with the search's dataset and search_space.* options fits that search."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nascli.data.datasets import data_shape
from nascli.errors import ConfigError
from nascli.hardware.profiler import MeasuredLatency
from nascli.hardware.latency_table import build_table, check_table
from nascli.hardware.target import build_target
from nascli.runtime.common import seed_everything
from nascli.runtime.config import build, check_app
from nascli.runtime.console import progress, table
from nascli.runtime.files import write_csv
from nascli.runtime.run_report import markdown_table
from nascli.runtime.context import RunContext

TABLE = "latency_table.csv"


@dataclass
class LatencyTableOptions:
    """The top-level options of conf/latency-table.yaml."""

    seed: int
    calibration: int
    check: int

    def __post_init__(self) -> None:
        if min(self.calibration, self.check) < 0:
            raise ConfigError(f"calibration and check must be at least 0, got {self.calibration} and {self.check}.")


def run(ctx: RunContext) -> float:
    """Build (and check) the table; returns its MAPE on the checked networks (0 when none are)."""
    cfg = ctx.cfg
    options = check_app(cfg, LatencyTableOptions, "latency-table", ("dataset", "search_space", "hardware"))
    seed_everything(options.seed)
    space = build(cfg.search_space, "search_space")
    hardware = build_target(cfg.hardware)
    target = hardware.profiler
    if not isinstance(target, MeasuredLatency):
        raise ConfigError("nas latency-table times on a device: use hardware=cpu or hardware=cuda.")
    shape = data_shape(cfg.dataset, lambda: build(cfg.dataset, "dataset"))  # no images needed where the config says it
    meta = {"device": target.device_name(), "torch": torch.__version__,
            "threads": target.threads or torch.get_num_threads(), "batch_size": target.batch_size}
    pieces = len({unit.key for unit in space.cost_units(*shape)})
    with progress(ctx.console) as bar:
        task = bar.add_task("latency-table", total=pieces + options.calibration + options.check, info="")

        def on_step(info: str) -> None:
            bar.update(task, advance=1, info=info[-60:])

        latency = build_table(space, shape, target.time, meta, options.calibration, options.seed, on_step)
        latency.save(ctx.run_dir / TABLE)
        checked, error = check_table(latency, space, shape, target.time, options.check, options.seed + 1, on_step)
    return _report(ctx, space, shape, latency, checked, error, hardware.describe())


def _report(ctx: RunContext, space, shape, latency, checked, error, hardware) -> float:
    files = [TABLE]
    if checked:
        write_csv(ctx.run_dir / "check.csv", checked, list(checked[0]))
        files.append("check.csv")
    overhead = next(row for row in latency.rows if row["input_shape"] == "network")
    ctx.report.results.update({"search_space": space.name, "space_config": space.config(), "shape": list(shape),
                               "dataset": ctx.cfg.dataset.name,
                               "hardware": hardware, "entries": len(latency.rows), "overhead_ms": overhead["latency_ms"],
                               "check": error, "table": str(ctx.run_dir / TABLE), "files": files})
    ctx.report.sections.append(("Table", f"{len(latency.rows)} entries measured on {latency.meta['device']} "
                                f"(torch {latency.meta['torch']}, {latency.meta['threads']} threads, batch "
                                f"{latency.meta['batch_size']}); the whole-network overhead is "
                                f"{overhead['latency_ms']:.3f} ms.\n\n"
                                + markdown_table(latency.rows, ["key", "latency_ms", "iqr_ms", "input_shape"])))
    ctx.console.print(table(f"latency table of the {space.name} space ({latency.meta['device']})",
                            sorted(latency.rows, key=lambda r: -r["latency_ms"])[:15],
                            ["key", "latency_ms", "iqr_ms", "input_shape"]))
    if checked:
        summary = [{"networks": error["networks"], "MAPE %": error["mape_pct"], "Spearman": error["spearman"]}]
        ctx.report.sections.append(("Check against whole networks", markdown_table(summary, list(summary[0])) + "\n\n"
                                    + markdown_table(checked, ["estimated_ms", "measured_ms", "error_pct"])))
        ctx.console.print(table("the table against whole networks", summary, list(summary[0])))
    ctx.console.print(f"table: {ctx.run_dir / TABLE}  (use it: nas search hardware=lut "
                      f"hardware.table={ctx.run_dir / TABLE} search_space={space.name} "
                      f"dataset={ctx.cfg.dataset.name}, with the same search_space.* options)", soft_wrap=True)
    return error.get("mape_pct", 0.0)
