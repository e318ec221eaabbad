"""Resume, owned by the engine: sample-based strategies are replayed through ask/tell from the
recorded rows (exact, since their randomness is seeded); strategies with state (one-shot) are
restored from checkpoint.pt, which holds their state_dict with the rows recorded so far."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nascli.errors import CheckpointError
from nascli.runtime.files import torch_save
from nascli.spaces.base import SearchSpace
from nascli.strategies.base import Strategy

STATE_FILE = "checkpoint.pt"


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
    torch_save(Path(run_dir) / STATE_FILE, {"fingerprint": fingerprint, "rows": rows, "state": state})


def load_state(run_dir: Path, fingerprint: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows, strategy state) saved by save_state, refusing a checkpoint of other settings."""
    import torch

    path = Path(run_dir) / STATE_FILE
    if not path.exists():
        raise CheckpointError(f"resume=true, but {run_dir} holds no one-shot checkpoint ({STATE_FILE}).")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user-facing problem
        raise CheckpointError(f"{path} is not a readable search checkpoint ({type(exc).__name__}).") from None
    if not isinstance(saved, dict) or saved.get("fingerprint") != fingerprint:
        raise CheckpointError(f"The checkpoint in {run_dir} was written by a search with other settings; "
                              "resume with the same settings (only budget.* may change).")
    return list(saved["rows"]), saved["state"]


def saved_supernet(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(the supernet's weights, the search's fingerprint: its strategy and dataset settings) from a
    one-shot search's checkpoint.pt; None where the search kept no supernet (a sample-based one)."""
    import torch

    path = Path(run_dir) / STATE_FILE
    if not path.exists():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user-facing problem
        raise CheckpointError(f"{path} is not a readable search checkpoint ({type(exc).__name__}).") from None
    state = saved.get("state") if isinstance(saved, dict) else None
    if not isinstance(state, dict) or not isinstance(saved.get("fingerprint"), dict):
        raise CheckpointError(f"{path} is not a nascli search checkpoint.")
    supernet = state.get("supernet")
    return (supernet, saved["fingerprint"]) if isinstance(supernet, dict) else None
