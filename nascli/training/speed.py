"""How a training step runs on its device: mixed precision, memory format, torch.compile, the
optimiser's kernels and CUDA graphs. The trainer group's switches say `auto` by default, resolved
here per device type from measurements (AUTO below); an explicit value always wins, or is a clear
error where the device cannot do it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nascli.errors import ConfigError

AMP = ("auto", "none", "bf16", "fp16")
COMPILE = ("auto", "none", "default", "reduce-overhead", "max-autotune")
OPTIMIZER_STEP = ("auto", "loop", "foreach", "fused")

# What `auto` chooses per device type, from measurements of DARTS_V2 at the paper's evaluation size
# (36 channels, 20 cells, auxiliary head, drop path 0.2, batch 96; scripts/bench_train.py).
AUTO: dict[str, dict[str, Any]] = {
    # CPU, measured on the project's 2-core machine (torch 2.14, paper size, images/s): plain fp32
    # 16.4, channels_last 21.4, compile 18-19 (after 150 s of compiling, 17 s from inductor's cache),
    # fused step 16.7; a plain PyTorch loop 17.1. channels_last is the fastest, yet auto stays NCHW
    # with the per-parameter step: those reproduce earlier CPU runs' numbers exactly (the suite pins
    # them, users compare with them). Set trainer.channels_last=true for speed.
    "cpu": {"amp": None, "channels_last": False, "compile": None, "optimizer_step": "loop", "cuda_graphs": False},
    # CUDA, from issue 11's figures on one H200: fp32 with channels_last trained at 845 images/s against
    # 722 plain, bf16 autocast slower at about 630 (the network is small per image: launches, not
    # arithmetic, bound it). The fused SGD step is one kernel where the per-parameter one is hundreds,
    # and with fp16 it unscales without a host sync. compile (minutes of compiling a 20-cell network)
    # and CUDA graphs were not measured on a GPU for this choice: they stay opt-in.
    "cuda": {"amp": None, "channels_last": True, "compile": None, "optimizer_step": "fused", "cuda_graphs": False},
}
DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Speed:
    """The resolved switches of one training run."""

    amp: torch.dtype | None       # autocast dtype; None is fp32
    channels_last: bool           # model and inputs in NHWC memory format
    compile: str | None           # torch.compile mode ("default", "reduce-overhead", "max-autotune"); None: eager
    optimizer_step: str           # loop (one parameter at a time), foreach (batched kernels) or fused (one kernel)
    cuda_graphs: bool             # replay one captured training step per full batch

    def describe(self) -> dict[str, Any]:
        """The switches as plain values, for reports."""
        amp = {None: "none", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp]
        return {"amp": amp, "channels_last": self.channels_last, "compile": self.compile or "none",
                "optimizer_step": self.optimizer_step, "cuda_graphs": self.cuda_graphs}


def check_switches(amp: Any, channels_last: Any, compile: Any, optimizer_step: Any, cuda_graphs: Any) -> None:
    """ConfigError for a switch value the trainer does not know (however TrainConfig was built)."""
    for key, value, allowed in (("amp", amp, AMP), ("compile", compile, COMPILE),
                                ("optimizer_step", optimizer_step, OPTIMIZER_STEP)):
        if value not in allowed:
            raise ConfigError(f"trainer.{key} must be one of {', '.join(allowed)}; got {value!r}.")
    for key, value in (("channels_last", channels_last), ("cuda_graphs", cuda_graphs)):
        if value not in (True, False, "auto"):
            raise ConfigError(f"trainer.{key} must be auto, true or false; got {value!r}.")


def resolve(cfg: Any, device: torch.device, processes: int = 1) -> Speed:
    """The switches of `cfg` (a TrainConfig) for `device`, `auto` replaced by AUTO's choice; a clear
    error for a combination the device or a run of `processes` processes cannot do."""
    auto = AUTO.get(device.type, AUTO["cpu"])
    amp = auto["amp"] if cfg.amp == "auto" else DTYPES[cfg.amp]
    channels_last = auto["channels_last"] if cfg.channels_last == "auto" else bool(cfg.channels_last)
    mode = auto["compile"] if cfg.compile == "auto" else (None if cfg.compile == "none" else cfg.compile)
    step = auto["optimizer_step"] if cfg.optimizer_step == "auto" else cfg.optimizer_step
    graphs = cfg.cuda_graphs
    if graphs == "auto":
        graphs = auto["cuda_graphs"] and processes == 1 and mode is None and amp is not torch.float16
    if graphs:
        if device.type != "cuda":
            raise ConfigError(f"trainer.cuda_graphs=true needs a CUDA device; this run trains on {device.type}. "
                              "Use trainer.cuda_graphs=auto (off there).")
        if processes > 1:
            raise ConfigError("trainer.cuda_graphs=true captures one process's step; under torchrun "
                              f"({processes} processes) use trainer.cuda_graphs=false.")
        if mode is not None:
            raise ConfigError(f"trainer.cuda_graphs=true and trainer.compile={mode} do not mix: choose one "
                              "(compile=reduce-overhead captures CUDA graphs itself).")
        if amp is torch.float16:
            raise ConfigError("trainer.cuda_graphs=true works with amp=none or bf16: fp16's loss scale is "
                              "adjusted between steps, outside a captured graph.")
    if step == "fused" and device.type not in _fused_devices():
        raise ConfigError(f"trainer.optimizer_step=fused has no kernel on {device.type} in this torch; "
                          "use loop or foreach.")
    return Speed(amp, channels_last, mode, step, bool(graphs))


def _fused_devices() -> list[str]:
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

        return list(_get_fused_kernels_supported_devices())
    except ImportError:  # a torch without the helper: CUDA has had fused SGD longest
        return ["cuda"]


def optimizer(params: list[nn.Parameter], cfg: Any, speed: Speed) -> torch.optim.SGD:
    """SGD with momentum as the trainer group configures it, stepping with the chosen kernels."""
    kernels = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[speed.optimizer_step]
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                           nesterov=cfg.nesterov and cfg.momentum > 0, **kernels)


def scaler(speed: Speed, device: torch.device) -> torch.amp.GradScaler | None:
    """fp16's loss scaler (gradients would underflow without it); None for fp32 and bf16. With the
    fused step an overflow skips the step on the device; the other steps ask the host once a step."""
    if speed.amp is not torch.float16:
        return None
    return torch.amp.GradScaler(device.type)


def autocast(speed: Speed, device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast to the AMP dtype, or nothing in fp32. With CUDA graphs the cache of cast weights is
    off (a cached cast made during capture would be reused from freed memory)."""
    if speed.amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=speed.amp, cache_enabled=not speed.cuda_graphs)


def prepare(model: nn.Module, speed: Speed) -> nn.Module:
    """The model in the chosen memory format (in place: the caller's weights are the ones trained)."""
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def inputs(x: torch.Tensor, speed: Speed) -> torch.Tensor:
    """A batch in the memory format the model expects."""
    return x.contiguous(memory_format=torch.channels_last) if speed.channels_last and x.dim() == 4 else x


def compiled(model: nn.Module, speed: Speed) -> nn.Module:
    """torch.compile of `model` in the chosen mode (compiling happens at the first step), or `model`."""
    if speed.compile is None:
        return model
    return torch.compile(model, mode=None if speed.compile == "default" else speed.compile)


@contextlib.contextmanager
def compile_errors(speed: Speed) -> Iterator[None]:
    """A failure of torch.compile (no C++ compiler, an unsupported op) as a clear error, not a traceback."""
    if speed.compile is None:
        yield
        return
    from torch._dynamo.exc import TorchDynamoException

    try:
        yield
    except TorchDynamoException as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"torch.compile (trainer.compile={speed.compile}) failed for this network: {first}. "
                          "Train without it: trainer.compile=none.") from None


class GraphedStep:
    """A training step replayed from a CUDA graph: one launch instead of thousands for every batch of
    the full batch size (the step is static-shaped; other batches run eagerly).

    `body(x, y)` is the step without zero_grad: forward, loss, backward, clipping, optimiser step; it
    returns device tensors. The first `warmup` full batches run eagerly on a side stream (lazy
    initialisation: kernels, momentum buffers), then the next is captured and replayed. `new_epoch()`
    drops the graph, because the learning rate and the drop-path probability are captured as
    constants; the next full batch captures again, into the same memory pool.
    """

    def __init__(self, body: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, ...]],
                 optimizer: torch.optim.Optimizer, batch_size: int, warmup: int = 3) -> None:
        self.body, self.optimizer, self.batch_size, self.warmup = body, optimizer, batch_size, warmup
        self.pool = torch.cuda.graph_pool_handle()
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: tuple[torch.Tensor, torch.Tensor] | None = None
        self.out: tuple[torch.Tensor, ...] = ()

    def new_epoch(self) -> None:
        self.graph = None

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if len(y) != self.batch_size:  # the last, partial batch
            self.optimizer.zero_grad(set_to_none=True)
            return self.body(x, y)
        if self.warmup > 0:
            self.warmup -= 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self.optimizer.zero_grad(set_to_none=True)
                out = self.body(x, y)
            torch.cuda.current_stream().wait_stream(side)
            return out
        if self.static is None:
            self.static = (torch.empty_like(x), torch.empty_like(y))
        self.static[0].copy_(x)
        self.static[1].copy_(y)
        if self.graph is None:
            self.optimizer.zero_grad(set_to_none=True)  # gradients are allocated inside the graph
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self.pool):
                self.out = self.body(*self.static)
            self.graph = graph
        self.graph.replay()
        return self.out
