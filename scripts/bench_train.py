"""Training speed and peak memory of DARTS_V2 retraining, nascli's trainer against a plain PyTorch
loop over the same network, printed as a table.

    python scripts/bench_train.py                        # CPU, the DARTS paper's size and debug size
    python scripts/bench_train.py --sizes debug          # seconds
    python scripts/bench_train.py --device cuda          # adds AMP bf16/fp16, the fused step, CUDA graphs

Sizes: `paper` is the DARTS paper's evaluation network and recipe (36 channels, 20 cells, auxiliary
head, drop path 0.2, batch 96, conf/trainer/darts_paper.yaml) on CIFAR-shaped random data
(dataset=fake, 3x32x32, 10 classes); `debug` is 8 channels, 5 cells, batch 32.

Rows: `baseline` is a plain PyTorch loop written below: the network, SGD with momentum and weight
decay, cross-entropy plus 0.4 x the auxiliary head's, gradient clipping, over batches made once on
the device. Every `nascli ...` row is nascli's train() with the paper's trainer config and the
switches named (the others off: fp32, NCHW, eager, per-parameter step), its own batch loader
included (random crop, flip and cutout on the device, as in real training); `nascli auto` is what
trainer.*=auto picks on the device. As in the reference code, a first epoch ramps drop path from 0,
so neither side draws drop-path masks here.

Each row runs in a fresh process: a warm-up (one step; compiling, capturing, allocating; its
seconds are shown), then --steps timed steps. With CUDA graphs every train() call starts with 3
eager steps and a capture, which fall in the timed ones (a few percent at the CUDA default of 100). images/s counts the training images of the timed steps (train() validates
after its epoch; that is not timed). Peak memory: torch.cuda.max_memory_allocated on CUDA; on CPU
the growth of the process's peak RSS over its RSS before the network was built.

On this project's 2-core CPU machine (torch 2.14, 2 threads, --steps 2), paper size, images/s:
baseline 17.1, nascli fp32 16.4, channels_last 21.4, fused step 16.7, compile 18-19 (its warm-up
compiles for 150 s, 17 s from inductor's cache), auto 17.1 (= fp32). Not measured here: CUDA (no
GPU was available to this work).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

SIZES = {  # name: (channels, cells, batch)
    "paper": (36, 20, 96),
    "debug": (8, 5, 32),
}
OFF = {"amp": "none", "channels_last": False, "compile": "none", "optimizer_step": "loop", "cuda_graphs": False}
ROWS = {  # name: trainer switches (None: the plain loop); the CPU rows first
    "baseline": None,
    "nascli fp32": {},
    "nascli channels_last": {"channels_last": True},
    "nascli fused step": {"optimizer_step": "fused"},
    "nascli compile": {"compile": "default"},
    "nascli auto": {key: "auto" for key in OFF},
    # CUDA only
    "nascli bf16": {"amp": "bf16"},
    "nascli fp16": {"amp": "fp16", "optimizer_step": "fused"},
    "nascli CUDA graphs": {"cuda_graphs": True, "optimizer_step": "fused"},
    "nascli channels_last + graphs": {"channels_last": True, "cuda_graphs": True, "optimizer_step": "fused"},
    "nascli bf16 + graphs": {"amp": "bf16", "channels_last": True, "cuda_graphs": True, "optimizer_step": "fused"},
}
CPU_ROWS = ["baseline", "nascli fp32", "nascli channels_last", "nascli fused step", "nascli compile", "nascli auto"]


def _rss_mb() -> float:
    """The process's resident memory now (Linux /proc; 0 where unavailable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _network(size: str, device: object) -> object:
    from nascli.runtime.config import build_option
    from nascli.spaces.darts.genotype import PUBLISHED

    channels, cells, _ = SIZES[size]
    space = build_option("search_space", "darts", {"channels": channels, "layers": cells, "auxiliary": True,
                                                    "drop_path": 0.2})
    return space.build_network(PUBLISHED["DARTS_V2"], 10, 3, 32).to(device)


def measure(row: str, size: str, device_name: str, steps: int) -> dict:
    """Time one row: a warm-up step, then `steps` timed steps; returns images/s and peak memory."""
    import torch

    from nascli.runtime.config import build_option

    from nascli.training.loop import train
    from nascli.training.steps import resolve

    device = torch.device(device_name)
    torch.manual_seed(0)
    _, _, batch = SIZES[size]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    data = build_option("dataset", "fake", {"train_samples": steps * batch, "val_samples": 0, "test_samples": 2})
    rss_before = _rss_mb()  # after imports and data: the training's own memory is measured
    model = _network(size, device)
    switches = ROWS[row]
    if switches is None:  # the plain PyTorch loop
        optimizer = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        criterion = torch.nn.CrossEntropyLoss()
        batches = [(torch.randn(batch, 3, 32, 32, device=device), torch.randint(0, 10, (batch,), device=device))
                   for _ in range(min(steps, 4))]
        model.drop_path_prob = 0.0
        model.train()

        def step(x: torch.Tensor, y: torch.Tensor) -> None:
            logits, aux = model(x)
            loss = criterion(logits, y) + 0.4 * criterion(aux, y)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()

        warm_s = time.perf_counter()
        step(*batches[0])
        sync()
        warm_s = time.perf_counter() - warm_s
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for i in range(steps):
            step(*batches[i % len(batches)])
        sync()
        seconds = time.perf_counter() - start
        chosen = "fp32, NCHW, eager, foreach" if device.type == "cuda" else "fp32, NCHW, eager, loop"
    else:
        trainer = build_option("trainer", "darts_paper",
                               {**OFF, **switches, "epochs": 1, "batch_size": batch, "eval_batch_size": 2})
        warm = data.train.subset(torch.arange(batch))
        warm_s = time.perf_counter()
        train(model, data, trainer, device, seed=0, train_split=warm)  # compile, capture, allocate
        sync()
        warm_s = time.perf_counter() - warm_s
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        seconds = train(model, data, trainer, device, seed=0)[0]["train_s"]
        how = resolve(trainer, device).describe()
        chosen = ", ".join(f"{k}={v}" for k, v in how.items() if v not in (False, "none", "loop"))
        chosen = chosen or "fp32, NCHW, eager, loop"
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:  # ru_maxrss is in KiB on Linux
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before
    return {"row": row, "size": size, "batch": batch, "steps": steps, "step_s": seconds / steps,
            "images_per_s": steps * batch / seconds, "peak_mb": peak_mb, "threads": torch.get_num_threads(),
            "chosen": chosen, "warmup_s": warm_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", default="paper,debug")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per row (default: 2 on CPU, 100 on CUDA)")
    parser.add_argument("--rows", default=None, help="comma-separated rows (default: every row the device runs)")
    parser.add_argument("--one", nargs=2, metavar=("ROW", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    steps = args.steps or (100 if args.device.startswith("cuda") else 2)
    if args.one:
        print(json.dumps(measure(args.one[0], args.one[1], args.device, steps)))
        return
    rows = args.rows.split(",") if args.rows else (list(ROWS) if args.device.startswith("cuda") else CPU_ROWS)
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; rows are: {', '.join(ROWS)}")
    _table(args.device, args.sizes.split(","), rows, steps)


def _table(device: str, sizes: list[str], rows: list[str], steps: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"DARTS_V2 training on {device}: {steps} timed steps per row, CIFAR-shaped random data")
    for col in ("config", "size", "batch", "s/step", "images/s", "x baseline", "peak MB", "warm-up s", "threads",
                "switches"):
        table.add_column(col, justify="left" if col in ("config", "switches") else "right", no_wrap=True)
    for size in sizes:
        base = None
        for row in rows:
            proc = subprocess.run([sys.executable, __file__, "--one", row, size, "--device", device, "--steps", str(steps)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["?"])[-1]
                table.add_row(row, size, "", "failed", last[:60], "", "", "", "", "")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            base = r["images_per_s"] if row == "baseline" else base
            ratio = f"{r['images_per_s'] / base:.2f}" if base else ""
            table.add_row(row, size, str(r["batch"]), f"{r['step_s']:.3f}", f"{r['images_per_s']:.1f}", ratio,
                          f"{r['peak_mb']:.0f}", f"{r['warmup_s']:.1f}", str(r["threads"]), r["chosen"])
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
