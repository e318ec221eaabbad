"""A run's state on disk: what a resumed run may change (one rule for every command), the
fingerprint and the diff that check it, and checkpoints saved atomically and loaded safely.

A resume continues a run as it was configured. It may change where the run goes, how fast it goes
and when it stops; it may not change what the run computes. FREE names the keys of the first kind,
each with the reason it is free; everything else is in the fingerprint a resume must match.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nascli.errors import CheckpointError
from nascli.runtime.files import torch_save, write_json

# keys (dotted, from the config's root) a resume may change, and why each changes nothing a run computes
FREE: dict[str, str] = {
    "resume": "continuing is how the run goes on, not what it computes",
    "device": "where it runs (a CPU run may continue on a GPU)",
    "jobs_per_gpu": "how a sweep shares GPUs",
    "plots": "whether pictures are drawn at the end",
    "paths": "where data and outputs live on this machine",
    "hydra": "where the run directory is and how it logs",
    "logger": "which experiment trackers watch the run",
    "budget": "when a search stops: a resume may give it more or fewer trials or seconds",
    "search.workers": "how many candidates are evaluated at once (finished trials replay as they were)",
    "search.executor": "who evaluates them: this machine's processes, a Ray cluster, Slurm jobs",
    "search.retries": "how often a candidate whose worker died runs again",
    "search.cancel_on_stop": "what happens to candidates in flight when the budget's seconds are spent",
    "search.ray": "where the Ray cluster is",
    "search.submitit": "which Slurm resources the jobs ask for",
    "dataset.root": "where the data lives on this machine (the data are the same)",
    "dataset.path": "where the arrays live on this machine (the data are the same)",
    "dataset.cache_dir": "where decoded images are cached (a miss decodes the same images again)",
    "dataset.workers": "how many processes decode the images (the same pixels)",
    "dataset.memory_limit_gb": "whether batches stream from the cache file (the same batches as in memory)",
    # how fast a step runs: the same computation with other kernels. amp and channels_last round
    # differently; whoever resumes on another machine chooses them for it, as for a new run
    "trainer.amp": "mixed precision (autocast)",
    "trainer.channels_last": "memory format of weights and inputs",
    "trainer.compile": "torch.compile of the step",
    "trainer.optimizer_step": "the SGD step's kernels",
    "trainer.cuda_graphs": "replay of a captured step",
    "trainer.sync_batchnorm": "BatchNorm statistics over all processes of a torchrun (one process: no effect)",
}
FREE_TEXT = "only where and how fast it runs and when it stops may change (" + "; ".join(
    ", ".join(k for k in FREE if k.split(".")[0] != "trainer") if node is None
    else f"{node}." + "/".join(k.split(".", 1)[1] for k in FREE if k.startswith(node + "."))
    for node in (None, "trainer")) + ")"


def is_free(path: tuple[str, ...]) -> bool:
    """Whether the config key at `path` (root first) may change when a run is resumed."""
    return any(".".join(path[:i]) in FREE for i in range(1, len(path) + 1))


def fingerprint(config: Mapping[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    """`config` (a plain mapping, interpolations resolved) without the keys a resume may change:
    what a resumed run must share with the run it continues. An empty mapping sets nothing and is
    left out (an option added since the run began, `network_by_space: {}`, is no difference)."""
    out = {}
    for key, value in config.items():
        here = (*path, str(key))
        if is_free(here):
            continue
        if isinstance(value, Mapping):
            value = fingerprint(value, here)
            if not value:
                continue
        out[key] = value
    return out


def differences(was: Mapping[str, Any], now: Mapping[str, Any], prefix: str = "") -> list[str]:
    """`key was X, is Y` for every setting that differs, nested keys dotted (`absent` where one has none)."""
    out = []
    for key in sorted(set(was) | set(now), key=str):
        old, new = was.get(key, _ABSENT), now.get(key, _ABSENT)
        if old == new:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            out += differences(old, new, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key} was {_shown(old)}, is {_shown(new)}")
    return out


class _Absent:
    def __repr__(self) -> str:
        return "absent"


_ABSENT = _Absent()


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_same(saved: Mapping[str, Any], current: Mapping[str, Any], where: Path | str, command: str) -> None:
    """Refuse to continue `where` (written by `nas <command>`) when the settings it was written with
    (`saved`) and this run's (`current`) differ beyond what a resume may change; both are configs or
    fingerprints, compared by their fingerprints, and the message names every difference."""
    changed = differences(fingerprint(saved), fingerprint(current))
    if changed:
        raise CheckpointError(refusal(where, command, changed))


def refusal(where: Path | str, command: str, changed: list[str]) -> str:
    """The one message of a resume that would change what a run computes."""
    shown = "; ".join(changed[:8]) + (f"; and {len(changed) - 8} more" if len(changed) > 8 else "")
    return (f"{where} was written by a {command} with other settings ({shown}). A resume continues the run as it "
            f"was configured: {FREE_TEXT}. Resume without changing the rest, or start a new run in another "
            "directory (hydra.run.dir=...).")


# --- files ------------------------------------------------------------------------------------------
def save(path: Path | str, state: Mapping[str, Any]) -> Path:
    """A checkpoint, atomically (a killed write leaves the previous file whole). Keep its contents to
    tensors and plain containers, so that `load` can read it with weights_only."""
    return torch_save(path, dict(state))


def load(path: Path | str, what: str, format: str | None = None) -> dict[str, Any]:
    """A checkpoint read with torch.load(weights_only=True) (nothing in it can run code), as a dict
    holding `format` when one is given; any other file is a CheckpointError that says which file
    and what it is not (`what`: e.g. "nascli checkpoint")."""
    import torch

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on a foreign file's pickle protocol: the error says it
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged file fails torch's safe unpickler in many ways
        raise CheckpointError(f"{path} is not a readable {what} ({_first_line(exc)}).") from None
    return _checked(state, path, what, format)


def load_json(path: Path | str, what: str, format: str | None = None) -> dict[str, Any]:
    """A JSON state file (a search's checkpoint.json), checked as `load` checks a checkpoint."""
    path = Path(path)
    try:
        state = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not a readable {what} ({_first_line(exc)}).") from None
    return _checked(state, path, what, format)


def save_json(path: Path | str, state: Mapping[str, Any]) -> Path:
    """A JSON state file, atomically."""
    return write_json(path, dict(state))


def _checked(state: Any, path: Path, what: str, format: str | None) -> dict[str, Any]:
    if not isinstance(state, dict) or (format is not None and state.get("format") != format):
        raise CheckpointError(f"{path} is not a {what}" + (f" (expected format {format})." if format else "."))
    return state


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
