"""How every training step in nascli runs: one runner for supervised training, the bilevel search
step (DARTS, PC-DARTS, GDAS), single-path supernet training (SPOS, ENAS) and Reptile's inner step.

A step *body* says what one step computes (forward, loss, backward, the optimiser steps); the
StepRunner runs it, and owns what every body shares: mixed precision (autocast, fp16's GradScaler),
the memory format, torch.compile, CUDA-graph capture and replay, gradient accumulation and, under
torchrun, DistributedDataParallel's gradient sync; plus the SGD optimiser and the cosine schedule
built from the trainer group. The trainer group's switches say `auto` by default, resolved here per
device type (AUTO below); an explicit value always wins, or is a clear error where the device or
the body cannot do it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from nascli.errors import ConfigError

AMP = ("auto", "none", "bf16", "fp16")
COMPILE = ("auto", "none", "default", "reduce-overhead", "max-autotune")
OPTIMIZER_STEP = ("auto", "loop", "foreach", "fused")

# What `auto` chooses per device type, for every body alike (retrain, evaluator=train and one-shot
# searches resolve the same switches).
AUTO: dict[str, dict[str, Any]] = {
    # CPU, measured on the project's 2-core machine (torch 2.14; scripts/bench_train.py, DARTS_V2 at the
    # paper's evaluation size: 36 channels, 20 cells, auxiliary head, drop path 0.2, batch 96; images/s):
    # plain fp32 16.4, channels_last 21.4, compile 18-19 (after 150 s of compiling, 17 s from inductor's
    # cache), fused step 16.7; a plain PyTorch loop 17.1. channels_last is the fastest, yet auto stays NCHW
    # with the per-parameter step: those reproduce earlier CPU runs' numbers exactly (the suite pins them,
    # users compare with them). Set trainer.channels_last=true for speed (trainer=darts_search does: NHWC
    # measured 1.7-2.3x faster for the DARTS supernet's search step, scripts/bench_search.py).
    # The one-shot search step: eager (CUDA graphs need CUDA; inductor on CPU compiles for minutes and
    # was not faster at debug sizes).
    "cpu": {"amp": None, "channels_last": False, "compile": None, "optimizer_step": "loop", "cuda_graphs": False},
    # CUDA, from issue 11's figures on one H200 (DARTS_V2 as above): fp32 with channels_last trained at
    # 845 images/s against 722 plain, bf16 autocast slower at about 630 (the network is small per image:
    # launches, not arithmetic, bound it). The fused SGD step is one kernel where the per-parameter one
    # is hundreds, and with fp16 it unscales without a host sync. compile (minutes of compiling a 20-cell
    # network) and CUDA graphs were not measured on a GPU for this choice: they stay opt-in. The search
    # step too: issue 14 measured 186 ms of kernels in 734 ms of CPU time per DARTS step on an H200 (launch
    # bound), yet graphs and compile stay off until measured faster and equivalent there
    # (scripts/gpu_check_search.sh awaits that measurement).
    "cuda": {"amp": None, "channels_last": True, "compile": None, "optimizer_step": "fused", "cuda_graphs": False},
}
DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}
BACKEND = "inductor"  # torch.compile's backend; the CPU tests use aot_eager (same tracing, no code generation)


@dataclass(frozen=True)
class Switches:
    """The trainer group's speed switches as given (TrainConfig has the same fields)."""

    amp: str
    channels_last: bool | str
    compile: str
    optimizer_step: str
    cuda_graphs: bool | str


ALL_AUTO = Switches("auto", "auto", "auto", "auto", "auto")  # what a trainer with no speed options runs (Reptile)


@dataclass(frozen=True)
class Limits:
    """What a step body cannot do, each as the reason a refusal gives (None: it can)."""

    cuda_graphs: str | None = None  # capture and replay the step as one CUDA graph
    compile: str | None = None      # torch.compile
    accumulate: str | None = None   # sum the gradients of several batches before the optimiser steps
    fp16: str | None = None         # fp16 autocast with its loss scaler


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

    @property
    def mode(self) -> str:
        """How a step ran in one word: graphs, a torch.compile mode, or none (eager)."""
        return "graphs" if self.cuda_graphs else (self.compile or "none")


def check_switches(amp: Any, channels_last: Any, compile: Any, optimizer_step: Any, cuda_graphs: Any,
                   accumulate: Any = 1) -> None:
    """ConfigError for a switch value the trainer does not know (however TrainConfig was built)."""
    for key, value, allowed in (("amp", amp, AMP), ("compile", compile, COMPILE),
                                ("optimizer_step", optimizer_step, OPTIMIZER_STEP)):
        if value not in allowed:
            raise ConfigError(f"trainer.{key} must be one of {', '.join(allowed)}; got {value!r}.")
    for key, value in (("channels_last", channels_last), ("cuda_graphs", cuda_graphs)):
        if value not in (True, False, "auto"):
            raise ConfigError(f"trainer.{key} must be auto, true or false; got {value!r}.")
    if isinstance(accumulate, bool) or not isinstance(accumulate, int) or accumulate < 1:
        raise ConfigError(f"trainer.accumulate must be a whole number of batches, at least 1; got {accumulate!r}.")


def resolve(cfg: Any, device: torch.device, processes: int = 1, limits: Limits = Limits()) -> Speed:
    """The switches of `cfg` (a TrainConfig, or Switches) for `device`, `auto` replaced by AUTO's
    choice; a clear error for a value the device, a run of `processes` processes or the step body
    (its `limits`) cannot do. `auto` never picks what the body cannot do."""
    check_switches(cfg.amp, cfg.channels_last, cfg.compile, cfg.optimizer_step, cfg.cuda_graphs,
                   getattr(cfg, "accumulate", 1))
    auto = AUTO.get(device.type, AUTO["cpu"])
    amp = auto["amp"] if cfg.amp == "auto" else DTYPES[cfg.amp]
    if amp is torch.float16 and limits.fp16:
        raise ConfigError(f"trainer.amp=fp16 cannot apply here: {limits.fp16}.")
    channels_last = auto["channels_last"] if cfg.channels_last == "auto" else bool(cfg.channels_last)
    if cfg.compile == "auto":
        mode = None if limits.compile else auto["compile"]
    else:
        mode = None if cfg.compile == "none" else cfg.compile
        if mode is not None and limits.compile:
            raise ConfigError(f"trainer.compile={mode} cannot apply here: {limits.compile}. Use trainer.compile=none "
                              "(or auto).")
    step = auto["optimizer_step"] if cfg.optimizer_step == "auto" else cfg.optimizer_step
    graphs = cfg.cuda_graphs
    if graphs == "auto":
        graphs = (auto["cuda_graphs"] and processes == 1 and mode is None and amp is not torch.float16
                  and not limits.cuda_graphs)
    if graphs:
        _check_graphs(device, processes, mode, amp, limits)
    if step == "fused" and device.type not in _fused_devices():
        raise ConfigError(f"trainer.optimizer_step=fused has no kernel on {device.type} in this torch; "
                          "use loop or foreach.")
    accumulate = getattr(cfg, "accumulate", 1)
    if accumulate > 1 and limits.accumulate:
        raise ConfigError(f"trainer.accumulate={accumulate} cannot apply here: {limits.accumulate}. Use "
                          "trainer.accumulate=1.")
    return Speed(amp, channels_last, mode, step, bool(graphs))


def _check_graphs(device: torch.device, processes: int, mode: str | None, amp: torch.dtype | None,
                  limits: Limits) -> None:
    if limits.cuda_graphs:
        raise ConfigError(f"trainer.cuda_graphs=true cannot apply here: {limits.cuda_graphs}. Use "
                          "trainer.cuda_graphs=false (or auto).")
    if device.type != "cuda":
        raise ConfigError(f"trainer.cuda_graphs=true captures the training step as a CUDA graph: it needs a CUDA "
                          f"device, and this run trains on {device.type}. Use trainer.cuda_graphs=auto (off there), "
                          "or device=cuda.")
    if processes > 1:
        raise ConfigError("trainer.cuda_graphs=true captures one process's step; under torchrun "
                          f"({processes} processes) use trainer.cuda_graphs=false.")
    if mode is not None:
        raise ConfigError(f"trainer.cuda_graphs=true and trainer.compile={mode} do not mix: choose one "
                          "(compile=reduce-overhead captures CUDA graphs itself).")
    if amp is torch.float16:
        raise ConfigError("trainer.cuda_graphs=true works with amp=none or bf16: fp16's loss scale is "
                          "adjusted between steps on the host, outside a captured graph.")


def _fused_devices() -> list[str]:
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

        return list(_get_fused_kernels_supported_devices())
    except ImportError:  # a torch without the helper: CUDA has had fused SGD longest
        return ["cuda"]


# --- the one CUDA-graph wrapper ------------------------------------------------------------------------
class CapturedStep:
    """A step replayed from a CUDA graph: one launch instead of thousands per step (a DARTS step is
    bound by kernel launches on a GPU, not arithmetic).

    `fn(tensors)` is the eager step on these inputs; it zeroes the gradients itself and returns device
    tensors. `key` holds the step's Python constants (learning rate, whether the architecture is updated, drop
    path, micro-batch weights): a graph captures them as constants, so each new key is captured again
    (once an epoch), into one shared memory pool. Before the first capture of each `warm` value,
    `warmup` steps run eagerly on a side stream: they create what optimisers create lazily (momentum
    buffers, Adam's moments), which a capture must not. Inputs are copied into static buffers; a batch
    of another shape than the first (a short last batch) runs eagerly.
    """

    def __init__(self, warmup: int = 3) -> None:
        self.warmup = warmup
        self.pool = torch.cuda.graph_pool_handle()
        self.shapes: tuple[torch.Size, ...] | None = None
        self.warmed: dict[Hashable, int] = {}
        self.graph: torch.cuda.CUDAGraph | None = None
        self.key: tuple | None = None
        self.static: tuple[torch.Tensor, ...] | None = None
        self.out: Any = None
        self.captures = 0  # how many graphs were captured (reports, tests)

    def __call__(self, fn: Callable[[tuple[torch.Tensor, ...]], Any], tensors: tuple[torch.Tensor, ...], key: tuple,
                 warm: Hashable = None) -> Any:
        shapes = tuple(t.shape for t in tensors)
        self.shapes = shapes if self.shapes is None else self.shapes
        if shapes != self.shapes:
            return fn(tensors)
        if self.warmed.get(warm, 0) < self.warmup:
            self.warmed[warm] = self.warmed.get(warm, 0) + 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side), warnings.catch_warnings():
                # a capturable Adam warns when it steps uncaptured, as warm-up steps must
                warnings.filterwarnings("ignore", message="This instance was constructed with capturable=True")
                out = fn(tensors)
            torch.cuda.current_stream().wait_stream(side)
            return out
        if self.static is None:
            self.static = tuple(torch.empty_like(t) for t in tensors)
        for s, t in zip(self.static, tensors):
            s.copy_(t)
        if self.key != key:
            self.graph = None  # its memory returns to the pool before the next capture
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self.pool):
                self.out = fn(self.static)
            self.graph, self.key = graph, key
            self.captures += 1
        self.graph.replay()
        return self.out


# --- the runner -------------------------------------------------------------------------------------------
class MicroBatch(NamedTuple):
    """One micro-batch for a body: its tensors (inputs, labels, ...), the weight of its mean loss
    (under torchrun: this process's share of the global batch) and how many images the global
    batch holds (what accumulation weighs it by)."""

    tensors: tuple[torch.Tensor, ...]
    weight: float = 1.0
    images: int = 1


Body = Callable[..., Any]  # body(tensors of each micro-batch, loss weight of each, *key) -> device tensors


class StepRunner:
    """Runs step bodies as the resolved switches say. A body is called with the micro-batches of one
    optimiser step (one, or `accumulate` of them), the weight each one's mean loss gets (so that
    their summed gradients are those of one batch as large as them all) and the step's constants
    (`key`); it uses the runner's autocast(), backward(), update() and no_sync()."""

    def __init__(self, how: Speed, device: torch.device, accumulate: int = 1) -> None:
        self.how, self.device, self.accumulate = how, torch.device(device), accumulate
        # fp16's loss scaler (gradients would underflow without it); None for fp32 and bf16. With the fused
        # step an overflow skips the step on the device; the other steps ask the host once a step.
        self.scaler = torch.amp.GradScaler(self.device.type) if how.amp is torch.float16 else None
        self._captured: dict[int, CapturedStep] = {}

    # --- what a trainer builds ------------------------------------------------------------------------
    def sgd(self, params: Iterable[nn.Parameter], lr: float, momentum: float, weight_decay: float = 0.0,
            nesterov: bool = False) -> torch.optim.SGD:
        """SGD with momentum, stepping with the chosen kernels."""
        kernels = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
        return torch.optim.SGD(list(params), lr=lr, momentum=momentum, weight_decay=weight_decay,
                               nesterov=nesterov and momentum > 0, **kernels[self.how.optimizer_step])

    def optimizer(self, params: Iterable[nn.Parameter], cfg: Any) -> torch.optim.SGD:
        """The trainer group's SGD (cfg: a TrainConfig)."""
        return self.sgd(params, cfg.lr, cfg.momentum, cfg.weight_decay, cfg.nesterov)

    @staticmethod
    def schedule(optimizer: torch.optim.Optimizer, cfg: Any) -> torch.optim.lr_scheduler.LRScheduler:
        """The trainer group's schedule, one step an epoch: cosine from lr to lr_min over its epochs, or
        (lr_schedule=exponential, DARTS' ImageNet recipe) lr times lr_decay every epoch."""
        if cfg.lr_schedule == "exponential":
            return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.lr_decay)
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.epochs, 1), eta_min=cfg.lr_min)

    def prepare(self, model: nn.Module) -> nn.Module:
        """The model on the device in the chosen memory format (in place: the caller's weights are the ones trained)."""
        model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.how.channels_last else model

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """A batch in the memory format the model expects."""
        return x.contiguous(memory_format=torch.channels_last) if self.how.channels_last and x.dim() == 4 else x

    def compiled(self, model: nn.Module) -> nn.Module:
        """torch.compile of `model` in the chosen mode (compiling happens at the first step), or `model`."""
        if self.how.compile is None:
            return model
        return torch.compile(model, backend=BACKEND, **self._mode())

    def compile_forward(self, model: nn.Module) -> None:
        """Route `model`'s forward (eager calls and torch.func.functional_call alike) through
        torch.compile in the chosen mode, in place: parameters and state_dict names stay as they are."""
        if self.how.compile is not None:
            model.forward = torch.compile(model.forward, backend=BACKEND, dynamic=False, **self._mode())

    def _mode(self) -> dict[str, Any]:
        return {"mode": self.how.compile} if BACKEND == "inductor" and self.how.compile != "default" else {}

    # --- what a body uses -------------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to the AMP dtype, or nothing in fp32. With CUDA graphs the cache of cast weights is
        off (a cached cast made during capture would be reused from freed memory)."""
        if self.how.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.how.amp, cache_enabled=not self.how.cuda_graphs)

    def backward(self, loss: torch.Tensor, inputs: Sequence[torch.Tensor] | None = None) -> None:
        """Backward of `loss` (scaled for fp16), into `inputs` only when given."""
        (loss if self.scaler is None else self.scaler.scale(loss)).backward(inputs=inputs)

    def update(self, optimizer: torch.optim.Optimizer, params: Sequence[nn.Parameter], clip: float) -> None:
        """The optimiser step on the gradients: unscaled (fp16), clipped to norm `clip` (0: not
        clipped; the norm stays on the device), then the step and the loss scale's update."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)  # clip true gradients; fused SGD skips inf steps on the device
        if clip > 0:
            nn.utils.clip_grad_norm_(params, clip)
        if self.scaler is None:
            optimizer.step()
        else:
            self.scaler.step(optimizer)
            self.scaler.update()

    @staticmethod
    def no_sync(model: nn.Module, last: bool) -> contextlib.AbstractContextManager:
        """DistributedDataParallel's gradient sync skipped for a micro-batch before the last of a step
        (the last one's backward all-reduces the summed gradients once)."""
        ddp = getattr(model, "_orig_mod", model)  # through torch.compile's wrapper
        return ddp.no_sync() if not last and hasattr(ddp, "no_sync") else contextlib.nullcontext()

    # --- running a body ---------------------------------------------------------------------------------
    def groups(self, batches: Iterable[MicroBatch]) -> Iterator[list[MicroBatch]]:
        """The micro-batches of each optimiser step: `accumulate` at a time (the last step takes what is left)."""
        group: list[MicroBatch] = []
        for batch in batches:
            group.append(batch)
            if len(group) == self.accumulate:
                yield group
                group = []
        if group:
            yield group

    def run(self, body: Body, group: Sequence[MicroBatch], key: tuple = (), warm: Hashable = None) -> Any:
        """One optimiser step of `body` on `group`: eagerly, compiled, or replayed from a CUDA graph
        (captured per `key`, warmed up per `warm`)."""
        weights = _weights(group)
        counts = tuple(len(b.tensors) for b in group)
        flat = tuple(t for b in group for t in b.tensors)

        def step(tensors: tuple[torch.Tensor, ...]) -> Any:
            return body(_unflatten(tensors, counts), weights, *key)

        if self.how.cuda_graphs:
            captured = self._captured.get(id(body))
            if captured is None:
                captured = self._captured[id(body)] = CapturedStep()
            return captured(step, flat, (*key, weights, counts), warm)
        if self.how.compile is not None and self.device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()  # the last step's graph outputs are consumed
        return step(flat)

    def captures(self) -> int:
        """CUDA graphs captured so far (reports, tests)."""
        return sum(c.captures for c in self._captured.values())


def _weights(group: Sequence[MicroBatch]) -> tuple[float, ...]:
    """Each micro-batch's loss weight: its own (torchrun's share) times its share of the step's images."""
    if len(group) == 1:
        return (group[0].weight,)
    total = sum(b.images for b in group)
    return tuple(b.weight * (b.images / total) for b in group)


def _unflatten(tensors: tuple[torch.Tensor, ...], counts: tuple[int, ...]) -> list[tuple[torch.Tensor, ...]]:
    out, start = [], 0
    for n in counts:
        out.append(tuple(tensors[start:start + n]))
        start += n
    return out


@contextlib.contextmanager
def compile_errors(how: Speed) -> Iterator[None]:
    """A failure of torch.compile (no C++ compiler, an unsupported op) as a clear error, not a traceback."""
    if how.compile is None:
        yield
        return
    from torch._dynamo.exc import TorchDynamoException

    try:
        yield
    except TorchDynamoException as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"torch.compile (trainer.compile={how.compile}) failed for this network: {first}. "
                          "Train without it: trainer.compile=none.") from None
