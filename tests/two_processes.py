"""Two processes of one gloo process group, forked from the test process: how the tests of
data-parallel training check what two processes do against what one does, in about a second (no
new interpreter, no torchrun)."""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def _child(fn: Callable[[int], Any], rank: int, store: Path, out: Path) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)  # a forked child must not use the parent's OpenMP pool
    os.environ.update({"WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank)})
    try:
        dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
        try:
            torch.save({"result": fn(rank)}, out)
        finally:
            if dist.is_initialized():  # (a command the runner ran has left it already)
                dist.destroy_process_group()
    except BaseException:  # noqa: BLE001 - said to the parent, which fails the test with it
        out.write_bytes(b"")
        torch.save({"error": traceback.format_exc()}, out)
        os._exit(1)
    os._exit(0)  # no exit handlers of the parent's (pytest's) in a forked child


def in_two_processes(fn: Callable[[int], Any], tmp_path: Path, timeout: float = 120.0) -> list[Any]:
    """fn(rank) in two forked processes joined in a gloo group of 2; what each returned (plain values
    and tensors), in rank order. A failure in either is raised here with its traceback."""
    context = multiprocessing.get_context("fork")
    tmp_path.mkdir(parents=True, exist_ok=True)
    outs = [tmp_path / f"rank{rank}.pt" for rank in range(2)]
    store = tmp_path / "store"
    store.unlink(missing_ok=True)
    children = [context.Process(target=_child, args=(fn, rank, store, outs[rank])) for rank in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout)
    for child in children:
        if child.is_alive():
            child.kill()
            raise AssertionError(f"a process of the group did not finish in {timeout:g} s")
    results = [torch.load(out, weights_only=False) if out.exists() else {"error": "no result"} for out in outs]
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise AssertionError("a process of the group failed:\n" + "\n".join(errors))
    return [r["result"] for r in results]
