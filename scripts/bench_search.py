"""Speed and memory of one gradient-based search step, printed as a table.

    python scripts/bench_search.py                          # CPU, paper and debug sizes, darts space
    python scripts/bench_search.py --sizes debug --steps 5  # quick
    python scripts/bench_search.py --device cuda --amp bf16 --channels-last
    python scripts/bench_search.py --profile darts-2nd --sizes debug   # where the time goes (torch.profiler)

A step is what the search loop does per batch: an architecture update on a batch of the second
half (first or second order), then a weight update on a batch of the first. Inputs are
`dataset=fake`-shaped (3x32x32, 10 classes). images/s counts the training batch's images (a step
also reads a validation batch of the same size). Peak memory is torch.cuda.max_memory_allocated on
CUDA and the growth of the process's peak RSS on CPU; every configuration runs in a fresh process.
Sizes: `paper` = each strategy's config defaults (conf/strategy/*.yaml), `debug` = debug=smoke's
sizes (conf/debug/strategy/smoke_<strategy>.yaml).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CONFIGS = {  # name: (strategy config, overrides)
    "darts-1st": ("darts", {"order": "first"}),
    "darts-2nd": ("darts", {"order": "second"}),
    "pcdarts": ("pcdarts", {}),
    "gdas": ("gdas", {}),
}


def strategy_options(name: str, size: str) -> dict:
    """The strategy's options at `paper` size (its YAML) or `debug` size (debug=smoke's)."""
    from omegaconf import OmegaConf

    from nascli.runtime.config import load_option

    file, overrides = CONFIGS[name]
    node = load_option("strategy", file)
    if size == "debug":
        node = OmegaConf.merge(node, load_option("debug/strategy", f"smoke_{file}"))
    return {**OmegaConf.to_container(node, resolve=True), **overrides}


def measure(name: str, size: str, device: str, amp: str | None, channels_last: bool, steps: int,
            space_name: str, profile: bool) -> dict:
    """Build the strategy's supernet and time `steps` bilevel steps after one warm-up step."""
    import torch
    from omegaconf import OmegaConf

    from nascli.runtime.config import build, build_option
    from nascli.strategies.base import SearchContext

    node = OmegaConf.create({**strategy_options(name, size), "amp": amp, "channels_last": channels_last})
    strategy = build(node, "strategy", space=build_option("search_space", space_name), seed=0)
    dev = torch.device(device)
    bs = strategy.batch_size
    data = build_option("dataset", "fake", {"train_samples": 4 * bs, "val_samples": 4, "test_samples": 4})
    strategy.setup(SearchContext(dev, lambda: data))  # dataset=fake's shape: 3x32x32, 10 classes
    gen = torch.Generator().manual_seed(0)

    def batch():
        x = torch.randn(bs, 3, 32, 32, generator=gen).to(dev)
        if strategy.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, torch.randint(0, 10, (bs,), generator=gen).to(dev)

    train, val = batch(), batch()
    strategy.net.train()
    strategy.bilevel_step(train, val, 0.025, update_arch=True)  # warm-up: allocator, kernels
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    sync()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if profile:
        return {"profile": _profile(strategy, train, val, dev)}
    start = time.perf_counter()
    for _ in range(steps):
        strategy.bilevel_step(train, val, 0.025, update_arch=True)
    sync()
    seconds = (time.perf_counter() - start) / steps
    if dev.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:  # ru_maxrss is in KiB on Linux; the warm-up step already set most of the peak
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"config": name, "size": size, "batch": bs, "channels": strategy.channels, "layers": strategy.layers,
            "step_s": seconds, "images_per_s": bs / seconds, "peak_mb": peak_mb,
            "rss_growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024,
            "threads": torch.get_num_threads()}


def _profile(strategy, train, val, dev) -> str:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=activities) as prof:
        strategy.bilevel_step(train, val, 0.025, update_arch=True)
    key = "cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", choices=["bf16", "fp16"], default=None)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per configuration (after 1 warm-up)")
    parser.add_argument("--sizes", default="paper,debug")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--space", default="darts", choices=["darts", "nb201"])
    parser.add_argument("--profile", metavar="CONFIG", help="print torch.profiler's table for one step of CONFIG")
    parser.add_argument("--one", nargs=2, metavar=("CONFIG", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one or args.profile:
        name, size = args.one or (args.profile, args.sizes.split(",")[0])
        result = measure(name, size, args.device, args.amp, args.channels_last, args.steps, args.space, bool(args.profile))
        print(result["profile"] if args.profile else json.dumps(result))
        return
    _table(args)


def _table(args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    extra = ["--device", args.device, "--steps", str(args.steps), "--space", args.space]
    extra += (["--amp", args.amp] if args.amp else []) + (["--channels-last"] if args.channels_last else [])
    table = Table(title=f"one search step on {args.device} ({args.space} space, 3x32x32, amp={args.amp}, "
                        f"channels_last={args.channels_last})")
    for col in ("config", "size", "batch", "C", "cells", "s/step", "images/s", "peak MB", "threads"):
        table.add_column(col, justify="right", no_wrap=True)
    for size in args.sizes.split(","):
        for name in args.configs.split(","):
            proc = subprocess.run([sys.executable, __file__, "--one", name, size, *extra], capture_output=True, text=True)
            if proc.returncode != 0:
                table.add_row(name, size, "", "", "", "failed", proc.stderr.strip().splitlines()[-1][:40], "", "")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            table.add_row(name, size, str(r["batch"]), str(r["channels"]), str(r["layers"]), f"{r['step_s']:.3f}",
                          f"{r['images_per_s']:.1f}", f"{r['peak_mb']:.0f}", str(r["threads"]))
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
