"""Per-op latency tables: every piece of a space's networks timed at the input it sees on one device
(`nas latency-table`), saved as CSV with the device, torch version and threads it was timed with.

A network's estimated latency is the sum of its pieces (nascli.spaces.base.CostUnit) plus a measured
constant, the overhead a whole network has beyond its pieces (the median over a few random networks
of measured minus summed). A supernet's expected latency weights each choice's pieces by the
architecture weights, which makes latency differentiable for one-shot strategies.
"""

from __future__ import annotations

import csv
import io
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nascli.errors import NasError
from nascli.runtime.files import write_text
from nascli.spaces.base import Arch, SearchSpace

COLUMNS = ["key", "latency_ms", "iqr_ms", "input_shape", "space", "device", "torch", "threads", "batch_size"]
META = ("space", "device", "torch", "threads", "batch_size")
Shape = tuple[int, int, int]  # (num_classes, in_channels, input_size)


def _shape_text(shape: Shape) -> str:
    return f"{shape[1]}x{shape[2]}x{shape[2]} inputs and {shape[0]} classes"


def overhead_key(space: str, shape: Shape) -> str:
    """The table row of a space's whole-network overhead at one network shape."""
    return f"{space}/overhead/{shape[0]}-{shape[1]}-{shape[2]}"


@dataclass
class LatencyTerms:
    """A space's latency at one shape as a constant plus a cost per choice (group, row, op), in ms:
    the estimate of an architecture is constant + the sum of its choices'; a supernet's expected
    latency weights every choice by its architecture weight."""

    constant_ms: float
    by_choice: dict[tuple[str, int, str], float]


@dataclass
class LatencyTable:
    """key -> median latency (ms), with the facts of where and how it was measured."""

    latency: dict[str, float]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)

    # --- files -----------------------------------------------------------------------------------
    @classmethod
    def load(cls, ref: str | Path) -> LatencyTable:
        """A table written by `nas latency-table`, or a clear error."""
        path = Path(ref).expanduser()
        if not path.is_file():
            raise NasError(f"No latency table at {path}: build one with `nas latency-table search_space=<space> "
                           f"hardware=cpu|cuda` and point hardware.table at its latency_table.csv.")
        try:
            rows = list(csv.DictReader(io.StringIO(path.read_text())))
            latency = {row["key"]: float(row["latency_ms"]) for row in rows}
        except (OSError, KeyError, ValueError, UnicodeDecodeError, csv.Error) as exc:
            raise NasError(f"{path} is not a latency table written by `nas latency-table` ({exc}).") from None
        if not rows:
            raise NasError(f"The latency table {path} is empty.")
        return cls(latency, {k: rows[0].get(k) for k in META}, path, rows)

    def save(self, path: Path) -> Path:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({**self.meta, **row} for row in self.rows)
        self.path = Path(path)
        return write_text(path, buf.getvalue())

    # --- estimates -------------------------------------------------------------------------------
    def terms(self, space: SearchSpace, shape: Shape) -> LatencyTerms:
        """The space's latency at `shape` as a constant and a cost per choice, from this table."""
        units = space.cost_units(*shape)
        overhead = overhead_key(space.name, shape)
        missing = sorted({u.key for u in units if u.key not in self.latency} | ({overhead} - self.latency.keys()))
        if missing:
            where = f" ({self.path})" if self.path else ""
            raise NasError(
                f"The latency table{where} has no entry for {len(missing)} piece(s) of the {space.name} space at "
                f"{_shape_text(shape)}, e.g. {missing[0]}. It was built for {self.built_for()}: build one for this "
                f"search with `nas latency-table search_space={space.name} dataset=<this search's dataset>`, with "
                f"the same search_space.* options, and point hardware.table at its latency_table.csv.")
        by_choice: dict[tuple[str, int, str], float] = {}
        constant = self.latency[overhead]
        for unit in units:
            if unit.choice is None:
                constant += self.latency[unit.key]
            else:
                by_choice[unit.choice] = by_choice.get(unit.choice, 0.0) + self.latency[unit.key]
        return LatencyTerms(constant, by_choice)

    def built_for(self) -> str:
        """The spaces and network shapes this table holds, from its overhead rows (one per table)."""
        found = []
        for key in self.latency:
            space, _, dims = key.partition("/overhead/")
            numbers = dims.split("-")
            if len(numbers) == 3 and all(n.isdigit() for n in numbers):
                found.append(f"the {space} space at {_shape_text(tuple(map(int, numbers)))}")
        return ", ".join(found) or "another space, size or input shape"

    def estimate(self, space: SearchSpace, arch: Arch, shape: Shape) -> float:
        """The estimated latency (ms) of `arch`'s network at `shape`: its pieces' sum plus the overhead."""
        terms = self.terms(space, shape)
        chosen = space.chosen(arch)
        return terms.constant_ms + sum(ms for choice, ms in terms.by_choice.items() if choice in chosen)


# --- building and checking a table -------------------------------------------------------------
Timer = Callable[[Any, tuple[int, int, int]], Any]  # (module, input shape) -> Timing (median_ms, iqr_ms)


def build_table(space: SearchSpace, shape: Shape, timer: Timer, meta: dict[str, Any], calibration: int, seed: int,
                on_step: Callable[[str], None] = lambda info: None) -> LatencyTable:
    """Time every distinct piece of `space`'s networks at `shape`, then the overhead of
    `calibration` random whole networks over their pieces' sum (median)."""
    rows, latency = [], {}
    for unit in space.cost_units(*shape):
        if unit.key in latency:
            continue
        timing = timer(unit.build(), unit.input_shape)
        latency[unit.key] = timing.median_ms
        rows.append({"key": unit.key, "latency_ms": timing.median_ms, "iqr_ms": timing.iqr_ms,
                     "input_shape": "x".join(map(str, unit.input_shape))})
        on_step(unit.key)
    key = overhead_key(space.name, shape)
    table = LatencyTable({**latency, key: 0.0}, {**meta, "space": space.name})
    rng = random.Random(seed)
    gaps = []
    for _ in range(calibration):
        arch = space.sample(rng)
        measured = timer(space.build_network(arch, *shape), (shape[1], shape[2], shape[2])).median_ms
        gaps.append(measured - table.estimate(space, arch, shape))
        on_step(f"calibration network {len(gaps)}/{calibration}")
    overhead = statistics.median(gaps) if gaps else 0.0
    spread = (statistics.quantiles(gaps, n=4)[2] - statistics.quantiles(gaps, n=4)[0]) if len(gaps) > 1 else 0.0
    rows.append({"key": key, "latency_ms": overhead, "iqr_ms": spread, "input_shape": "network"})
    table.latency[key] = overhead
    table.rows = rows
    return table


def check_table(table: LatencyTable, space: SearchSpace, shape: Shape, timer: Timer, count: int, seed: int,
                on_step: Callable[[str], None] = lambda info: None) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Estimate and measure `count` random whole networks (other than the calibration ones); rows
    and the table's error against them: mean absolute percentage error and Spearman correlation."""
    from scipy.stats import spearmanr

    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        arch = space.sample(rng)
        measured = timer(space.build_network(arch, *shape), (shape[1], shape[2], shape[2])).median_ms
        estimated = table.estimate(space, arch, shape)
        rows.append({"arch_str": space.to_str(arch), "estimated_ms": estimated, "measured_ms": measured,
                     "error_pct": 100.0 * (estimated - measured) / measured})
        on_step(f"check network {len(rows)}/{count}")
    if not rows:
        return rows, {}
    mape = statistics.fmean(abs(r["error_pct"]) for r in rows)
    rho = float(spearmanr([r["estimated_ms"] for r in rows], [r["measured_ms"] for r in rows])[0]) if len(rows) > 2 \
        else float("nan")
    return rows, {"mape_pct": mape, "spearman": rho, "networks": len(rows)}
