"""Cost of a network: parameters, FLOPs (multiply-accumulates, as NAS-Bench-201 counts) and latency."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn


def params_m(model: nn.Module) -> float:
    """Parameters in millions; an auxiliary head (used only in training) is not counted."""
    total = sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name)
    return total / 1e6


@torch.no_grad()
def flops_m(model: nn.Module, input_shape: tuple[int, int, int], example: torch.Tensor | None = None) -> float:
    """Multiply-accumulates of one forward pass of a single image (or of `example`, a network's own
    input such as token ids), in millions (torch's counter / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(1, *input_shape, device=device) if example is None else example.to(device))
    model.train(was_training)
    return counter.get_total_flops() / 2 / 1e6


@dataclass(frozen=True)
class Timing:
    """Latency of many timed runs after a warm-up: the median and the inter-quartile range (ms)."""

    median_ms: float
    iqr_ms: float
    runs: int

    @classmethod
    def of(cls, times_ms: list[float]) -> Timing:
        """The median and inter-quartile range of timed runs (ms)."""
        q1, _, q3 = statistics.quantiles(times_ms, n=4) if len(times_ms) > 1 else (times_ms[0],) * 3
        return cls(statistics.median(times_ms), q3 - q1, len(times_ms))


DISTINCT_INPUTS = 16  # timed runs cycle through this many different inputs ...
INPUTS_BYTES = 256 * 2**20  # ... as far as they fit in this much memory


def timing_inputs(input_shape: tuple[int, int, int], batch_size: int, device: torch.device) -> list[torch.Tensor]:
    """Different random inputs for the timed runs to cycle through. Timing one op on one input again
    and again lets the CPU's branch predictor learn that input (max pooling then looks up to 3x
    faster than inside a network, where it never sees the same data twice in a row)."""
    size = batch_size * math.prod(input_shape) * 4
    count = max(1, min(DISTINCT_INPUTS, INPUTS_BYTES // size))
    return [torch.randn(batch_size, *input_shape, device=device) for _ in range(count)]


@torch.no_grad()
def time_forward(model: nn.Module, input_shape: tuple[int, int, int], device: torch.device | str = "cpu",
                 batch_size: int = 1, warmup: int = 3, repeats: int = 10, threads: int | None = None,
                 example: torch.Tensor | None = None) -> Timing:
    """Time `repeats` forward passes in eval mode after `warmup` untimed ones, on `threads` CPU
    threads (None: torch's setting). On CUDA each run is timed with CUDA events after a
    synchronisation, so the figure is the GPU's, not the launch's. The runs cycle through several
    different inputs (see timing_inputs); a network of other inputs (token ids) is timed on `example`
    (one input, repeated to the batch)."""
    device = torch.device(device)
    was_training = model.training
    model.eval().to(device)
    xs = timing_inputs(input_shape, batch_size, device) if example is None else [
        example[:1].expand(batch_size, *example.shape[1:]).contiguous().to(device)]
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        for i in range(warmup):
            model(xs[i % len(xs)])
        times = _cuda_times(model, xs, repeats) if device.type == "cuda" else _wall_times(model, xs, repeats)
    finally:
        torch.set_num_threads(before)
        model.train(was_training)
    return Timing.of(times)


def _wall_times(model: nn.Module, xs: list[torch.Tensor], repeats: int) -> list[float]:
    times = []
    for i in range(repeats):
        x = xs[i % len(xs)]
        start = time.perf_counter()
        model(x)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def _cuda_times(model: nn.Module, xs: list[torch.Tensor], repeats: int) -> list[float]:
    pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(repeats)]
    torch.cuda.synchronize(xs[0].device)
    for i, (start, end) in enumerate(pairs):
        x = xs[i % len(xs)]
        start.record()
        model(x)
        end.record()
    torch.cuda.synchronize(xs[0].device)
    return [start.elapsed_time(end) for start, end in pairs]


def latency_ms(model: nn.Module, input_shape: tuple[int, int, int], device: torch.device | str = "cpu",
               batch_size: int = 1, warmup: int = 3, repeats: int = 10) -> float:
    """Median latency of one forward pass in eval mode, in milliseconds (see time_forward)."""
    return time_forward(model, input_shape, device, batch_size, warmup, repeats).median_ms
