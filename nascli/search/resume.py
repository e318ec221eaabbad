"""Resume, owned by the engine: sample-based strategies are replayed through ask/tell from the
recorded rows (exact, since their randomness is seeded); strategies with state (one-shot) are
restored from checkpoint.pt, which holds their state_dict with the rows recorded so far."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nascli.errors import CheckpointError
from nascli.runtime import run_state
from nascli.spaces.base import SearchSpace
from nascli.strategies.base import Strategy

STATE_FILE = "checkpoint.pt"
STATE_FORMAT = "nascli.search-state/1"


def replay(strategy: Strategy, space: SearchSpace, rows: list[dict[str, Any]],
           objective_of: Callable[[dict[str, Any]], Any] | None = None) -> None:
    """Bring a fresh strategy to the state it had after `rows`: ask, check, tell each recorded
    objective (`objective_of(row)`: what it was told, by default the row's objective)."""
    for row in rows:
        proposal = strategy.propose()
        got = None if proposal is None else _described(space.to_str(proposal.arch), proposal.fidelity)
        expected = _described(row["arch_str"], row.get("fidelity"))
        if got != expected:
            raise CheckpointError(
                f"Trial {row['trial']} of the checkpoint does not replay with this strategy and seed "
                f"(expected {expected}, got {got}); was the code or config changed?"
            )
        if objective_of is not None:
            strategy.tell(proposal.arch, objective_of(row))
            continue
        value = row.get("objective")
        strategy.tell(proposal.arch, -math.inf if value is None else float(value))


def _described(arch_str: str, fidelity: int | None) -> str:
    return arch_str if fidelity is None else f"{arch_str} at {fidelity} epochs"


def save_state(run_dir: Path, fingerprint: dict[str, Any], rows: list[dict[str, Any]], state: dict[str, Any]) -> None:
    """A strategy's state with the rows so far, atomically (tensors and plain containers only)."""
    run_state.save(Path(run_dir) / STATE_FILE, {"format": STATE_FORMAT, "fingerprint": fingerprint, "rows": rows,
                                                "state": state})


def load_state(run_dir: Path, fingerprint: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows, strategy state) saved by save_state, refusing a checkpoint of other settings."""
    path = Path(run_dir) / STATE_FILE
    if not path.exists():
        raise CheckpointError(f"resume=true, but {run_dir} holds no one-shot checkpoint ({STATE_FILE}).")
    saved = _read(path)
    run_state.check_same(saved["fingerprint"], fingerprint, path, "search")
    return list(saved["rows"]), saved["state"]


def saved_supernet(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(the supernet's weights, the search's fingerprint: its strategy and dataset settings) from a
    one-shot search's checkpoint.pt; None where the search kept no supernet (a sample-based one)."""
    path = Path(run_dir) / STATE_FILE
    if not path.exists():
        return None
    saved = _read(path)
    supernet = saved["state"].get("supernet")
    return (supernet, saved["fingerprint"]) if isinstance(supernet, dict) else None


def _read(path: Path) -> dict[str, Any]:
    """checkpoint.pt, loaded safely, with the parts every reader uses (files written before the
    format was named have none: they are read by their parts)."""
    saved = run_state.load(path, "nascli search checkpoint")
    if saved.get("format", STATE_FORMAT) != STATE_FORMAT or not isinstance(saved.get("state"), dict) \
            or not isinstance(saved.get("fingerprint"), dict) or not isinstance(saved.get("rows"), list):
        raise CheckpointError(f"{path} is not a nascli search checkpoint.")
    return saved
