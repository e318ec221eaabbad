"""How a one-shot strategy's bilevel step runs on its device (strategy.compile): eagerly, replayed
from one captured CUDA graph, or through torch.compile.

On a GPU the DARTS step is bound by kernel launches, not arithmetic (issue 14: 186 ms of kernels
in 734 ms of CPU time per step on an H200). A CUDA graph replays the step's thousands of launches
as one; torch.compile(mode="reduce-overhead") fuses kernels and captures graphs itself. Both
compute what the eager step computes, up to float rounding (scripts/check_search_cuda.py checks it
on a GPU; tests/weight_sharing/test_capture.py on CPU where it can).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch

from nascli.errors import ConfigError

COMPILE_MODES = ("auto", "none", "graphs", "compile")

# What `auto` picks per device type. Nothing was measured on a GPU yet (issue 14 awaits its
# measurement: scripts/gpu_check_search.sh), so CUDA stays eager until graphs or compile are
# measured both faster and equivalent there. CPU: eager (graphs need CUDA; inductor on CPU
# compiles for minutes and was not faster at debug sizes).
AUTO = {"cpu": "none", "cuda": "none"}

BilevelBody = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float, bool], torch.Tensor]


def resolve_compile(value: Any, device: torch.device, supernet_mode: str, amp: str | None) -> str:
    """strategy.compile for `device` with `auto` replaced by AUTO's choice; a ConfigError where the
    mode cannot apply (graphs off CUDA, a GDAS step that samples on the host, fp16 loss scaling)."""
    if value not in COMPILE_MODES:
        raise ConfigError(f"strategy.compile must be one of {', '.join(COMPILE_MODES)}; got {value!r}.")
    mode = AUTO.get(device.type, "none") if value == "auto" else value
    if mode == "none":
        return mode
    if supernet_mode == "gdas":
        raise ConfigError(f"strategy.compile={mode} cannot apply to GDAS: each step samples its path on the host "
                          "(Gumbel noise from a CPU generator, the sampled op indices read back), so the step "
                          "is not the same computation twice. Use strategy.compile=none (or auto).")
    if mode == "graphs":
        if device.type != "cuda":
            raise ConfigError(f"strategy.compile=graphs captures the search step as a CUDA graph: it needs a CUDA "
                              f"device, and this search runs on {device.type}. Use strategy.compile=none (or auto), "
                              "or device=cuda.")
        if amp == "fp16":
            raise ConfigError("strategy.compile=graphs works with strategy.amp=null or bf16: fp16's loss scale is "
                              "adjusted between steps on the host, outside a captured graph.")
    return mode


BACKEND = "inductor"  # torch.compile's backend; the CPU tests use aot_eager (same tracing, no code generation)


def compiled_forward(net: torch.nn.Module) -> None:
    """Route `net`'s forward (eager calls and torch.func.functional_call alike) through
    torch.compile(mode="reduce-overhead"); compiling happens at the first step, parameters stay
    where they are (state_dict names unchanged)."""
    options: dict[str, Any] = {"mode": "reduce-overhead"} if BACKEND == "inductor" else {}
    net.forward = torch.compile(net.forward, backend=BACKEND, dynamic=False, **options)


class GraphedBilevelStep:
    """The whole bilevel step (architecture update, first or second order, then the weight update)
    replayed from one CUDA graph, with static input buffers.

    `body(train_x, train_y, val_x, val_y, lr, update_arch)` is the eager step; it zeroes the
    gradients itself and returns the training logits. The learning rate and whether the
    architecture is updated are constants of a captured graph, so each new (lr, update_arch) is
    captured again (once an epoch), into one shared memory pool. Before the first capture of each
    update_arch value, `warmup` steps run eagerly on a side stream: they initialise what the
    optimisers create lazily (momentum buffers, Adam's moments), which a capture must not create.
    A batch of another shape (a short last batch) runs eagerly.
    """

    def __init__(self, body: BilevelBody, warmup: int = 3) -> None:
        self.body, self.warmup = body, warmup
        self.pool = torch.cuda.graph_pool_handle()
        self.warmed: dict[bool, int] = {}
        self.graph: torch.cuda.CUDAGraph | None = None
        self.key: tuple[float, bool] | None = None
        self.static: tuple[torch.Tensor, ...] | None = None
        self.out: torch.Tensor | None = None
        self.captures = 0  # how many graphs were captured (reports, tests)

    def __call__(self, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
                 lr: float, update_arch: bool) -> torch.Tensor:
        tensors = (*train, *val)
        if self.warmed.get(update_arch, 0) < self.warmup:
            self.warmed[update_arch] = self.warmed.get(update_arch, 0) + 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side), warnings.catch_warnings():
                # the capturable Adam warns when it steps uncaptured, as warm-up steps must
                warnings.filterwarnings("ignore", message="This instance was constructed with capturable=True")
                out = self.body(*tensors, lr, update_arch)
            torch.cuda.current_stream().wait_stream(side)
            return out
        if self.static is None:
            self.static = tuple(torch.empty_like(t) for t in tensors)
        if any(s.shape != t.shape for s, t in zip(self.static, tensors)):
            return self.body(*tensors, lr, update_arch)
        for s, t in zip(self.static, tensors):
            s.copy_(t)
        if self.key != (lr, update_arch):
            self.graph = None  # its memory returns to the pool before the next capture
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self.pool):
                self.out = self.body(*self.static, lr, update_arch)
            self.graph, self.key = graph, (lr, update_arch)
            self.captures += 1
        self.graph.replay()
        return self.out
