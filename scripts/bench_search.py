"""Speed and memory of one gradient-based search step, printed as a table.

    python scripts/bench_search.py                          # CPU, paper and debug sizes, darts space
    python scripts/bench_search.py --sizes debug --steps 5  # quick
    python scripts/bench_search.py --device cuda --amp bf16 --channels-last
    python scripts/bench_search.py --device cuda --sizes paper --steps 10 --compile none,graphs,reduce-overhead \\
        --reference ~/src/darts --check-memory               # issue 14's table (scripts/gpu_check_search.sh)
    python scripts/bench_search.py --sizes paper --size channels=8,layers=5,batch=32   # another size
    python scripts/bench_search.py --profile darts-2nd --sizes debug   # where the time goes (torch.profiler)

A step is what the search loop does per batch: an architecture update on a batch of the second
half (first or second order), then a weight update on a batch of the first. Inputs are
`dataset=fake`-shaped (3x32x32, 10 classes). images/s counts the training batch's images (a step
also reads a validation batch of the same size). Sizes: `paper` = the space's own size
(conf/search_space/) and the batch of the trainer each strategy picks (conf/trainer/<strategy>_search.yaml),
`debug` = debug=smoke's (conf/debug/search_space/smoke_<space>.yaml, conf/debug/app/smoke_search.yaml);
--size channels=8,layers=5,batch=32 changes the space's options and the batch of either.
--compile runs each configuration in each way a step can run, in the trainer's switches: none (eager),
graphs (trainer.cuda_graphs=true) or a trainer.compile mode (default | reduce-overhead | max-autotune).

Memory: on CUDA the peak of torch.cuda.max_memory_allocated over the timed steps; on CPU the
growth of the process's peak RSS from before the supernet is built to after the last step (the
closest CPU measure, labelled as such). MB/img divides it by the batch; --check-memory prints
DARTS' (first order) over PC-DARTS' memory per image (issue 14 asks for >= 3x on a GPU).

--reference PATH runs the DARTS authors' code (quark0/darts: cnn/model_search.py and
cnn/architect.py; PATH is the checkout or its cnn/ folder; not vendored) at the same sizes in the
same run, and prints nascli's images/s over the reference's. That code places its tensors with
.cuda() itself, so it runs only with --device cuda. Every configuration runs in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = {  # name: (strategy config, overrides)
    "darts-1st": ("darts", {"order": "first"}),
    "darts-2nd": ("darts", {"order": "second"}),
    "pcdarts": ("pcdarts", {}),
    "pcdarts-2nd": ("pcdarts", {"order": "second"}),
    "gdas": ("gdas", {}),
}
REFERENCE_CONFIGS = ("darts-1st", "darts-2nd")  # what the DARTS authors' code implements
MODES = ("none", "graphs", "default", "reduce-overhead", "max-autotune")
EXCEPTION_NAME = re.compile(r"^[\w.]+(Error|Exception): ")  # a child's last stderr line starts so


def recipe(name: str, size: str, space_name: str, custom: dict) -> tuple[dict, dict, dict]:
    """(strategy options, trainer options, search space options) of CONFIGS' `name` at `size` (see the docstring)."""
    file, overrides = CONFIGS[name]
    return options_of(file, overrides, size, space_name, custom)


def options_of(file: str, overrides: dict, size: str, space_name: str, custom: dict) -> tuple[dict, dict, dict]:
    """(strategy options, trainer options, search space options) of strategy `file` with `overrides` at `size`."""
    from omegaconf import OmegaConf

    from nascli.runtime.config import chosen_options, conf_root, load_option

    strategy = load_option("strategy", file)
    trainer = load_option("trainer", chosen_options("strategy", file)["trainer"])
    space = load_option("search_space", space_name)
    if size == "debug":
        for group, node, smoke in (("strategy", strategy, file), ("search_space", space, space_name)):
            if conf_root().joinpath("debug", group, f"smoke_{smoke}.yaml").is_file():
                node.merge_with(load_option(f"debug/{group}", f"smoke_{smoke}"))
        trainer.merge_with(load_option("debug/app", "smoke_search").trainer)
    plain = lambda node: OmegaConf.to_container(node, resolve=True)  # noqa: E731
    sizes = {k: v for k, v in custom.items() if k != "batch"}
    return ({**plain(strategy), **overrides}, {**plain(trainer), **({"batch_size": custom["batch"]} if "batch" in custom else {})},
            {**plain(space), **sizes})


def switches(mode: str, amp: str | None, channels_last: bool) -> dict:
    """The trainer's speed switches for a way of running the step (none, graphs or a compile mode)."""
    return {"amp": amp or "none", "channels_last": channels_last, "cuda_graphs": mode == "graphs",
            "compile": "none" if mode == "graphs" else mode}


def parse_size(text: str) -> dict:
    """--size channels=8,layers=5,batch=32 as a dict of ints."""
    try:
        return {k: int(v) for k, v in (item.split("=") for item in text.split(",") if item)}
    except ValueError:
        raise SystemExit(f"--size {text!r}: write it as key=number,... (e.g. channels=8,layers=5,batch=32)") from None


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def _timed(step, steps: int, dev, batch: int, rss_before: float) -> dict:
    """Time `steps` calls of `step` after warm-up ones; seconds per step, images/s and peak memory."""
    import torch

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(4 if dev.type == "cuda" else 1):  # warm-up: allocator, kernels (and a graph's capture)
        step()
    sync()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    seconds = (time.perf_counter() - start) / steps
    peak_mb = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else _rss_mb() - rss_before
    return {"step_s": seconds, "images_per_s": batch / seconds, "peak_mb": peak_mb, "mb_per_image": peak_mb / batch,
            "memory": "cuda max allocated" if dev.type == "cuda" else "cpu peak rss growth",
            "threads": torch.get_num_threads()}


def _fake_batches(bs: int, dev, channels_last: bool):
    import torch

    gen = torch.Generator().manual_seed(0)

    def batch():
        x = torch.randn(bs, 3, 32, 32, generator=gen).to(dev)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, torch.randint(0, 10, (bs,), generator=gen).to(dev)

    return batch(), batch()


def build_strategy(recipes: tuple[dict, dict, dict], speed: dict, device: str):
    """A strategy from recipe()'s options, built as `nas search` builds it (the trainer given at runtime),
    its trainer's speed switches `speed`, set up on `device`."""
    import torch
    from omegaconf import OmegaConf

    from nascli.runtime.config import build, build_option
    from nascli.strategies.base import SearchContext

    options, trainer_options, space_options = recipes
    trainer = build(OmegaConf.create({**trainer_options, **speed}), "trainer")
    space = build(OmegaConf.create(space_options), "search_space")
    strategy = build(OmegaConf.create(options), "strategy", space=space, seed=0, trainer=trainer)
    data = build_option("dataset", "fake", {"train_samples": 4 * trainer.batch_size, "val_samples": 4,
                                            "test_samples": 4})
    strategy.setup(SearchContext(torch.device(device), lambda: data))  # dataset=fake's shape: 3x32x32, 10 classes
    return strategy


def measure(name: str, size: str, device: str, amp: str | None, channels_last: bool, steps: int,
            space_name: str, profile: bool, compile_mode: str = "none", custom: dict | None = None) -> dict:
    """Build the strategy's supernet and time `steps` bilevel steps after warm-up steps."""
    import torch

    rss_before = _rss_mb()
    custom = custom or {}
    recipes = recipe(name, size, space_name, custom)
    strategy = build_strategy(recipes, switches(compile_mode, amp, channels_last), device)
    dev = torch.device(device)
    bs = strategy.trainer.batch_size
    train, val = _fake_batches(bs, dev, strategy.runner.how.channels_last)
    strategy.net.train()
    if profile:
        strategy.bilevel_step(train, val, 0.025, update_arch=True)  # warm-up
        return {"profile": _profile(strategy, train, val, dev)}
    result = _timed(lambda: strategy.bilevel_step(train, val, 0.025, update_arch=True), steps, dev, bs, rss_before)
    sizes = recipes[2]
    return {"config": name, "compile": strategy.runner.how.mode, "size": size, "batch": bs,
            "channels": sizes.get("channels"), "layers": sizes.get("layers", sizes.get("cells_per_stage")), **result}


# --- the DARTS authors' code ----------------------------------------------------------------------
def reference_dir(path: str) -> Path:
    """The folder holding the reference's model_search.py and architect.py: PATH or PATH/cnn."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise SystemExit(f"--reference {path}: no such directory (point it at a checkout of quark0/darts).")
    for folder in (root, root / "cnn"):
        if (folder / "model_search.py").is_file() and (folder / "architect.py").is_file():
            return folder
    raise SystemExit(f"--reference {path}: neither it nor its cnn/ folder holds model_search.py and architect.py "
                     "(a checkout of github.com/quark0/darts has them in cnn/).")


def load_reference(path: str) -> tuple:
    """The reference's (model_search, architect) modules, imported from its folder."""
    folder = reference_dir(path)
    sys.path.insert(0, str(folder))
    try:
        import architect
        import model_search
    except Exception as exc:  # their code, any error: say where it came from
        raise SystemExit(f"--reference {path}: importing {folder}/model_search.py and architect.py failed: "
                         f"{type(exc).__name__}: {exc}") from None
    missing = [f"{m.__name__}.{attr}" for m, attr in ((model_search, "Network"), (architect, "Architect"))
               if not hasattr(m, attr)]
    if missing:
        raise SystemExit(f"--reference {path}: {', '.join(missing)} not found; is it quark0/darts' cnn/ code?")
    return model_search, architect


def measure_reference(path: str, name: str, size: str, device: str, steps: int, custom: dict | None = None) -> dict:
    """The reference's search step (Architect.step, then the weight step of its train_search.py) at
    the sizes and hyper-parameters of nascli's `name` (darts-1st or darts-2nd), timed like measure()."""
    import torch
    from torch import nn

    if name not in REFERENCE_CONFIGS:
        raise SystemExit(f"the reference implements DARTS only ({', '.join(REFERENCE_CONFIGS)}), not {name}.")
    model_search, architect = load_reference(path)
    dev = torch.device(device)
    if dev.type != "cuda":
        raise SystemExit("the reference DARTS code places its tensors with .cuda() itself, so it runs only with "
                         f"--device cuda (this run: --device {device}); its modules were found and import.")
    rss_before = _rss_mb()
    strategy, o, space = recipe(name, size, "darts", custom or {})  # the reference implements the darts space
    arch_opt = strategy["arch_optimizer"]
    torch.manual_seed(0)
    criterion = nn.CrossEntropyLoss().cuda()
    model = model_search.Network(space["channels"], 10, space["layers"], criterion).cuda()
    optimizer = torch.optim.SGD(model.parameters(), o["lr"], momentum=o["momentum"], weight_decay=o["weight_decay"])
    args = argparse.Namespace(momentum=o["momentum"], weight_decay=o["weight_decay"],
                              arch_learning_rate=arch_opt["lr"], arch_weight_decay=arch_opt["weight_decay"])
    arch = architect.Architect(model, args)
    train, val = _fake_batches(o["batch_size"], dev, False)

    def step() -> None:  # train_search.py's train(), one batch
        model.train()
        arch.step(*train, *val, o["lr"], optimizer, unrolled=strategy["order"] == "second")
        optimizer.zero_grad()
        loss = criterion(model(train[0]), train[1])
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), o["grad_clip"])
        optimizer.step()

    result = _timed(step, steps, dev, o["batch_size"], rss_before)
    return {"config": f"reference {name}", "compile": "none", "size": size, "batch": o["batch_size"],
            "channels": space["channels"], "layers": space["layers"], **result}


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
    parser.add_argument("--steps", type=int, default=2, help="timed steps per configuration (after warm-up)")
    parser.add_argument("--sizes", default="paper,debug")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--compile", default="none",
                        help=f"ways to run the step, comma-separated ({', '.join(MODES)}): none (eager), graphs "
                             "(trainer.cuda_graphs=true) or a trainer.compile mode")
    parser.add_argument("--size", default="", help="the space's options and the batch, e.g. channels=8,layers=5,batch=32")
    parser.add_argument("--space", default="darts", choices=["darts", "nb201"])
    parser.add_argument("--reference", metavar="PATH", help="a checkout of quark0/darts: time its search step too")
    parser.add_argument("--check-memory", action="store_true", help="print DARTS' over PC-DARTS' memory per image")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per configuration (compiling is slow)")
    parser.add_argument("--json", metavar="FILE", help="also write every row as JSON to FILE")
    parser.add_argument("--profile", metavar="CONFIG", help="print torch.profiler's table for one step of CONFIG")
    parser.add_argument("--one", nargs=3, metavar=("CONFIG", "SIZE", "COMPILE"), help=argparse.SUPPRESS)
    parser.add_argument("--one-reference", nargs=2, metavar=("CONFIG", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    unknown = [m for m in args.compile.split(",") if m not in MODES] + \
              [c for c in args.configs.split(",") if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown --compile mode or --configs name: {', '.join(unknown)}")
    if args.reference and not args.one_reference:
        reference_dir(args.reference)  # a wrong path fails now, not after the other rows
    if args.one_reference:
        name, size = args.one_reference
        print(json.dumps(measure_reference(args.reference, name, size, args.device, args.steps, parse_size(args.size))))
        return
    if args.one or args.profile:
        name, size, mode = args.one or (args.profile, args.sizes.split(",")[0], args.compile.split(",")[0])
        result = measure(name, size, args.device, args.amp, args.channels_last, args.steps, args.space,
                         bool(args.profile), mode, parse_size(args.size))
        print(result["profile"] if args.profile else json.dumps(result))
        return
    _table(args)


def _run_row(command: list[str], timeout: float) -> dict | str:
    """The JSON row a child process printed, or why it printed none (its last error line)."""
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["(no message)"]
        return lines[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _table(args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    extra = ["--device", args.device, "--steps", str(args.steps), "--space", args.space, "--size", args.size]
    extra += (["--amp", args.amp] if args.amp else []) + (["--channels-last"] if args.channels_last else [])
    memory = "peak CUDA memory allocated" if args.device.startswith("cuda") else "growth of peak RSS (CPU)"
    table = Table(title=f"one search step on {args.device} ({args.space} space, 3x32x32, amp={args.amp}, "
                        f"channels_last={args.channels_last}; memory: {memory})")
    for col in ("config", "compile", "size", "batch", "C", "cells", "s/step", "images/s", "peak MB", "MB/img", "threads"):
        table.add_column(col, justify="right", no_wrap=True)
    rows: list[dict] = []
    errors: list[str] = []

    def add(label: str, mode: str, size: str, result: dict | str) -> None:
        if isinstance(result, str):
            table.add_row(label, mode, size, "", "", "", "failed", f"note {len(errors) + 1}", "", "", "")
            rows.append({"config": label, "compile": mode, "size": size, "error": result})
            message = EXCEPTION_NAME.sub("", result)
            errors.append(f"note {len(errors) + 1}: {label} compile={mode} ({size}): {message}")
            return
        rows.append(result)
        print(f"{label} compile={result['compile']} ({size}): {result['images_per_s']:.1f} images/s, "
              f"{result['mb_per_image']:.2f} MB/image", flush=True)  # as it goes: a run cut short keeps these
        table.add_row(label, result["compile"], size, str(result["batch"]), str(result["channels"]),
                      str(result["layers"]), f"{result['step_s']:.3f}", f"{result['images_per_s']:.1f}",
                      f"{result['peak_mb']:.0f}", f"{result['mb_per_image']:.2f}", str(result["threads"]))

    script = [sys.executable, __file__]
    for size in args.sizes.split(","):
        for name in args.configs.split(","):
            for mode in args.compile.split(","):
                add(name, mode, size, _run_row([*script, "--one", name, size, mode, *extra], args.timeout))
            if args.reference and name in REFERENCE_CONFIGS:
                add(f"reference {name}", "none", size, _run_row(
                    [*script, "--one-reference", name, size, "--reference", args.reference, *extra], args.timeout))
    Console(width=160).print(table)
    for line in errors + _ratios(rows, args):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


def _ratios(rows: list[dict], args: argparse.Namespace) -> list[str]:
    """nascli over the reference (images/s, memory), and DARTS over PC-DARTS memory per image."""
    done = {(r["config"], r["compile"], r["size"]): r for r in rows if "error" not in r}
    lines = []
    for (config, mode, size), r in done.items():
        ref = done.get((f"reference {config}", "none", size))
        if ref is not None:
            lines.append(f"{config} compile={mode} ({size}): {r['images_per_s'] / ref['images_per_s']:.2f}x the "
                         f"reference's images/s, {r['peak_mb'] / ref['peak_mb']:.2f}x its peak memory (issue 14 asks "
                         ">= 3x images/s, <= today's memory)")
    if args.check_memory:
        for (config, mode, size), r in done.items():
            darts = done.get(("darts-1st", mode, size))
            if config != "pcdarts" or darts is None:
                continue
            same = (darts["channels"], darts["layers"]) == (r["channels"], r["layers"])
            lines.append(f"memory per image ({size}, compile={mode}, {r['memory']}): DARTS {darts['mb_per_image']:.2f} MB, "
                         f"PC-DARTS {r['mb_per_image']:.2f} MB: {darts['mb_per_image'] / r['mb_per_image']:.2f}x less "
                         f"for PC-DARTS (issue 14 asks >= 3x on a GPU)"
                         + ("" if same else " [different channels or cells: not comparable]"))
        if not any(line.startswith("memory per image") for line in lines):
            lines.append("--check-memory needs darts-1st and pcdarts rows of the same size and compile mode.")
    return lines


if __name__ == "__main__":
    main()
