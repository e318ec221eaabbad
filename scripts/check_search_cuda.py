"""On a GPU: does each way of running the search step compute what the eager step computes?

    python scripts/check_search_cuda.py                       # graphs and reduce-overhead, darts/pcdarts, debug sizes
    python scripts/check_search_cuda.py --modes graphs --space darts --json out.json

Modes are the trainer's switches: graphs (trainer.cuda_graphs=true) or a trainer.compile mode
(reduce-overhead: torch.compile of the supernet's forward, capturing CUDA graphs itself).
For every configuration (darts first and second order, pcdarts) and mode, two searches start from
the same seed on the same batches: one eager (trainer.compile=none), one in the mode. Each runs
`--steps` bilevel steps (with a learning-rate change half way, so a CUDA graph is captured twice),
then the script compares the training logits of every step, the final weights, alphas, BN
buffers, the last gradients (weights and architecture) and the derived genotype. A second eager
run measures the device's own run-to-run noise (cuDNN picks kernels per call); a mode passes when
its largest relative difference is within max(--rtol, 10x that noise) and the genotypes agree.
GDAS is checked to be refused (its step samples on the host). Exit status 1 if anything fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

CONFIGS = {"darts-1st": ("darts", "first"), "darts-2nd": ("darts", "second"), "pcdarts": ("pcdarts", "first")}


def build(name: str, space_name: str, mode: str, device: Any) -> Any:
    """The strategy of `name` at debug=smoke's sizes, set up on `device`, its step run in `mode`."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_search import build_strategy, options_of, switches

    file, order = CONFIGS[name] if name in CONFIGS else (name, "first")
    return build_strategy(options_of(file, {"order": order}, "debug", space_name, {}), switches(mode, None, False),
                          str(device))


def run(name: str, space_name: str, mode: str, steps: int, device: Any) -> dict[str, Any]:
    """`steps` bilevel steps on fixed batches; what they computed."""
    import torch

    strategy = build(name, space_name, mode, device)
    bs = strategy.trainer.batch_size
    gen = torch.Generator().manual_seed(1)
    batch = lambda: (torch.randn(bs, 3, 32, 32, generator=gen).to(device),  # noqa: E731
                     torch.randint(0, 10, (bs,), generator=gen).to(device))
    batches = [(batch(), batch()) for _ in range(steps)]
    net = strategy.net
    net.train()
    logits = []
    start = time.perf_counter()
    for k, (train, val) in enumerate(batches):
        lr = 0.025 if k < steps // 2 + 2 else 0.02  # a new lr: a new capture
        logits.append(strategy.bilevel_step(train, val, lr, update_arch=True).detach().clone())
    if device.type == "cuda":
        torch.cuda.synchronize()
    return {"logits": logits, "seconds": time.perf_counter() - start,
            "state": {k: v.detach().clone() for k, v in net.state_dict().items() if v.is_floating_point()},
            "grads": {n: p.grad.detach().clone() for n, p in net.named_parameters() if p.grad is not None},
            "genotype": str(net.derive()),
            "captures": strategy.runner.captures() if strategy.runner.how.cuda_graphs else None}


def max_rel(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """Largest |a - b| / (|a|max + 1e-6) per kind of tensor."""
    import torch

    def rel(x: torch.Tensor, y: torch.Tensor) -> float:
        return ((x.float() - y.float()).abs().max() / (x.float().abs().max() + 1e-6)).item()

    out = {"logits": max(rel(x, y) for x, y in zip(a["logits"], b["logits"]))}
    for kind in ("state", "grads"):
        missing = set(a[kind]) ^ set(b[kind])
        if missing:
            out[kind] = float("inf")
            continue
        out[kind] = max(rel(a[kind][k], b[kind][k]) for k in a[kind])
    out["alphas"] = max(rel(a["state"][k], b["state"][k]) for k in a["state"] if k.startswith(("alpha_", "beta_")))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="graphs,reduce-overhead")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--space", default="darts", choices=["darts", "nb201"])
    parser.add_argument("--compile-space", default="nb201", choices=["darts", "nb201"],
                        help="space of the trainer.compile rows (compiling the darts supernet takes minutes)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rtol", type=float, default=1e-3)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--device", default="cuda", help="cpu: a dry run of the comparison (compile mode only)")
    parser.add_argument("--backend", default="inductor", help="torch.compile backend (aot_eager: quick dry runs)")
    args = parser.parse_args()
    import torch

    from nascli.training import steps

    steps.BACKEND = args.backend
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("check_search_cuda.py checks the CUDA modes: it needs a CUDA GPU (torch.cuda.is_available() is False).")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU (dry run)"
    print(f"{name}, torch {torch.__version__}, {args.steps} steps per run")
    results, failed = [], False
    for mode in args.modes.split(","):  # every graphs row before any (slow to compile) compile row
        for name in args.configs.split(","):
            space_name = args.space if mode == "graphs" else args.compile_space
            began = time.perf_counter()
            try:
                eager, again = run(name, space_name, "none", args.steps, device), run(name, space_name, "none", args.steps, device)
                other = run(name, space_name, mode, args.steps, device)
            except Exception as exc:  # report it and go on with the other rows
                results.append({"config": name, "mode": mode, "space": space_name, "ok": False,
                                "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"})
                failed = True
                print(f"{name:10} {mode:8} {space_name:6} FAIL  {results[-1]['error']}")
                continue
            noise, diff = max_rel(eager, again), max_rel(eager, other)
            limit = {k: max(args.rtol, 10 * noise[k]) for k in diff}
            ok = all(diff[k] <= limit[k] for k in diff) and other["genotype"] == eager["genotype"]
            if mode == "graphs":
                ok = ok and (other["captures"] or 0) >= 2  # one per learning rate: it did replay graphs
            failed |= not ok
            results.append({"config": name, "mode": mode, "space": space_name, "ok": ok, "diff": diff, "noise": noise,
                            "genotype_equal": other["genotype"] == eager["genotype"], "captures": other["captures"],
                            "eager_s": eager["seconds"], "mode_s": other["seconds"],
                            "wall_s": time.perf_counter() - began})
            print(f"{name:10} {mode:8} {space_name:6} {'ok  ' if ok else 'FAIL'}  "
                  + "  ".join(f"{k} {diff[k]:.1e} (noise {noise[k]:.1e})" for k in diff)
                  + f"  genotype {'same' if results[-1]['genotype_equal'] else 'DIFFERS'}  captures {other['captures']}"
                  + f"  eager {eager['seconds']:.2f} s, {mode} {other['seconds']:.2f} s (incl. warm-up/compile)")
            if args.json:  # after every row: a run cut short by a timeout keeps what it checked
                with open(args.json, "w") as handle:
                    json.dump(results, handle, indent=1)
    from nascli.errors import ConfigError

    for mode in ("graphs", "reduce-overhead"):
        try:
            build("gdas", args.space, mode, device)
            print(f"gdas       {mode:8} FAIL  not refused")
            failed = True
        except ConfigError as exc:
            print(f"gdas       {mode:8} ok    refused: {str(exc)[:90]}...")
    print("all modes match the eager step" if not failed else "SOME MODES DIFFER OR FAILED (see above)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
