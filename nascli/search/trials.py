"""The record of a search: one row per evaluated candidate, kept as trials.csv and a checkpoint."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nascli.errors import CheckpointError
from nascli.runtime import run_state
from nascli.runtime.files import write_csv

BASE_COLUMNS = ["trial", "arch_str", "status", "objective", "val_accuracy", "train_accuracy",
                "params_m", "flops_m", "latency_ms", "cost_s", "elapsed_s"]
CHECKPOINT_FORMAT = "nascli.search-checkpoint/1"


class TrialLog:
    """Rows in evaluation order; columns are the contract's, then any other metric measured."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.rows: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def elapsed_s(self) -> float:
        return float(self.rows[-1]["elapsed_s"]) if self.rows else 0.0

    @property
    def columns(self) -> list[str]:
        extra = [k for row in self.rows for k in row if k not in BASE_COLUMNS and not k.startswith("_")]
        return BASE_COLUMNS + list(dict.fromkeys(extra))

    def add(self, row: dict[str, Any]) -> dict[str, Any]:
        self.rows.append({"trial": len(self.rows), **row})
        return self.rows[-1]

    def best(self, rows: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
        """The row with the highest objective (the earliest among equals), of `rows` (default: all)."""
        scored = [r for r in (self.rows if rows is None else rows)
                  if r.get("objective") is not None and not math.isnan(r["objective"])]
        return max(scored, key=lambda r: r["objective"]) if scored else None

    def curve(self) -> list[float]:
        """Best objective so far after each trial."""
        best, out = -math.inf, []
        for row in self.rows:
            value = row.get("objective")
            if value is not None and not math.isnan(value):
                best = max(best, value)
            out.append(best)
        return out

    def save(self, fingerprint: dict[str, Any], pending: list[dict[str, Any]] | None = None) -> None:
        """checkpoint.json for resume, then trials.csv for people, each written atomically (in this
        order, so that a run killed between the two can always resume). `pending`: the proposals in
        flight with several workers (what a resume asks again and runs again)."""
        run_state.save_json(self.run_dir / "checkpoint.json", {
            "format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, "rows": self.rows,
            **({"pending": pending} if pending is not None else {}),
        })
        write_csv(self.run_dir / "trials.csv", self.rows, self.columns)

    def load(self, fingerprint: dict[str, Any]) -> dict[str, Any]:
        """Rows from checkpoint.json, refusing a checkpoint of a differently configured search."""
        path = self.run_dir / "checkpoint.json"
        if not path.exists():
            raise CheckpointError(
                f"resume=true, but {self.run_dir} holds no search checkpoint (checkpoint.json).\n"
                f"Point hydra.run.dir at the run directory of the search to continue, or drop resume=true."
            )
        state = run_state.load_json(path, "nascli search checkpoint", CHECKPOINT_FORMAT)
        run_state.check_same(state.get("fingerprint") or {}, fingerprint, path, "search")
        self.rows = list(state["rows"])
        return state
