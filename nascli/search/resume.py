"""Resume, owned by the engine: sample-based strategies are replayed through ask/tell from the
recorded rows (exact, since their randomness is seeded); strategies with state (one-shot) are
restored from checkpoint.pt, which holds their state_dict with the rows recorded so far."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nascli.errors import CheckpointError
from nascli.runtime import run_state
from nascli.spaces.base import SearchSpace
from nascli.strategies.base import Proposal, Strategy

STATE_FILE = "checkpoint.pt"
STATE_FORMAT = "nascli.search-state/1"


def replay(strategy: Strategy, space: SearchSpace, rows: list[dict[str, Any]],
           objective_of: Callable[[dict[str, Any]], Any] | None = None,
           pending: Sequence[dict[str, Any]] = ()) -> list[Proposal]:
    """Bring a fresh strategy to the state it had after `rows`: ask, check, tell each recorded
    objective (`objective_of(row)`: what it was told, by default the row's objective).

    Rows of a search with several workers are in the order told and note when each was asked
    (`proposed`, `asked_after`): the asks and tells are replayed interleaved as they happened, and
    the proposals that were still in flight (`pending`, checkpoint.json's) are asked too; returns
    those, to run again."""
    told = objective_of or (lambda row: -math.inf if row.get("objective") is None else float(row["objective"]))
    if not pending and not any("proposed" in row for row in rows):
        for row in rows:
            strategy.tell(_asked(strategy, space, row).arch, told(row))
        return []
    tells = iter(rows)
    open_: dict[int, Proposal] = {}
    done = 0
    for entry in sorted([*rows, *pending], key=lambda r: int(r["proposed"])):
        while done < int(entry["asked_after"]):
            row = next(tells)
            strategy.tell(open_.pop(int(row["proposed"])).arch, told(row))
            done += 1
        open_[int(entry["proposed"])] = _asked(strategy, space, entry)
    for row in tells:
        strategy.tell(open_.pop(int(row["proposed"])).arch, told(row))
    return [open_[int(entry["proposed"])] for entry in pending]


def _asked(strategy: Strategy, space: SearchSpace, row: dict[str, Any]) -> Proposal:
    """The strategy's next proposal, which must be the one `row` records."""
    proposal = strategy.propose()
    got = None if not isinstance(proposal, Proposal) else _described(space.to_str(proposal.arch), proposal.fidelity)
    expected = _described(row["arch_str"], row.get("fidelity"))
    if got != expected:
        which = f"Trial {row['trial']}" if "trial" in row else f"Proposal {row.get('proposed')} (in flight)"
        raise CheckpointError(
            f"{which} of the checkpoint does not replay with this strategy and seed "
            f"(expected {expected}, got {got}); was the code or config changed?"
        )
    return proposal


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
