"""Data-parallel training under torchrun: every process draws the same global batch (same order and
augmentation, from the seed) and trains on its slice of it; DistributedDataParallel averages the
gradients, and BatchNorm normalises over the global batch, so N processes at batch B/N each take
the steps one process takes at batch B.

The process group itself is started by the runner (nascli.runtime.torchrun), before the command.
Supervised training wraps its model in DistributedDataParallel (`wrap`); the bilevel step of a
one-shot search, which takes gradients with torch.autograd.grad on other weights and steps two
optimisers on one module, averages its gradients itself (`average`) and checks that the processes
still agree (`Agreement`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from nascli.errors import NasError
from nascli.runtime.torchrun import TorchrunProcess, this_process


def current() -> TorchrunProcess | None:
    """This process among the training processes, once their process group of more than one process
    is started; None when one process trains alone."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    here = this_process()  # torchrun says which GPU of the node is this process's
    return TorchrunProcess(dist.get_rank(), here.local_rank if here else 0, dist.get_world_size())


def bounds(n: int, process: TorchrunProcess) -> tuple[int, int]:
    """[start, stop) of this process's slice of `n` items: contiguous, sizes differing by at most one."""
    base, extra = divmod(n, process.size)
    start = process.rank * base + min(process.rank, extra)
    return start, start + base + (process.rank < extra)


def shard(x: torch.Tensor, y: torch.Tensor, process: TorchrunProcess) -> tuple[torch.Tensor, torch.Tensor, float]:
    """This process's slice of a global batch and the weight of its mean loss: slice size x processes /
    global size, so that DDP's average of the processes' gradients is the gradient of the global mean."""
    start, stop = bounds(len(y), process)
    return x[start:stop], y[start:stop], (stop - start) * process.size / len(y)


def wrap(model: nn.Module, device: torch.device, find_unused: bool) -> nn.Module:
    """DistributedDataParallel over `model` (rank 0's weights are broadcast to every process here)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused)


def all_sum(values: list[torch.Tensor | float | int], device: torch.device) -> list[float]:
    """Sums of scalars over every process (one collective, in float64)."""
    import torch.distributed as dist

    total = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=device).reshape(()) for v in values])
    dist.all_reduce(total)
    return total.tolist()


def gather(obj: object) -> list[object]:
    """`obj` of every process, in rank order (pickled through the process group: our own values only)."""
    import torch.distributed as dist

    out: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def average(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The mean of each tensor over the processes (new tensors): one all-reduce per dtype of them all
    flattened, as DistributedDataParallel averages gradients, for a step it cannot wrap. Every
    process must pass tensors of the same shapes in the same order."""
    import torch.distributed as dist

    size = dist.get_world_size()
    out: list[torch.Tensor | None] = [None] * len(tensors)
    by_kind: dict[tuple[torch.dtype, torch.device], list[int]] = {}
    for i, t in enumerate(tensors):
        by_kind.setdefault((t.dtype, t.device), []).append(i)
    for indices in by_kind.values():
        flat = torch.cat([tensors[i].reshape(-1) for i in indices])
        dist.all_reduce(flat)
        flat /= size
        offset = 0
        for i in indices:
            n = tensors[i].numel()
            out[i] = flat[offset:offset + n].view(tensors[i].shape)
            offset += n
    return out  # type: ignore[return-value]


class DriftError(NasError):
    """The processes of a data-parallel run no longer hold the same values."""


class Agreement:
    """Checks that every process holds the same values (architecture parameters, a sampler's
    state, weights): each `add` all-reduces their maximum and minimum over the processes and
    keeps the largest gap on the device (no host sync); `check` raises a DriftError on every
    process alike if any gap was not 0. The processes apply the same averaged gradients to the same
    values, so they agree bit for bit unless something in the step is not the same everywhere."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.gap = torch.zeros((), dtype=torch.float64, device=device)
        self.checked = 0  # how many sets of values were compared (reports, tests)

    def add(self, tensors: Sequence[torch.Tensor]) -> None:
        import torch.distributed as dist

        values = torch.cat([t.detach().reshape(-1).to(self.device, torch.float64) for t in tensors])
        both = torch.cat([values, -values])
        dist.all_reduce(both, op=dist.ReduceOp.MAX)
        n = values.numel()
        self.gap = torch.maximum(self.gap, (both[:n] + both[n:]).abs().max())
        self.checked += 1

    def check(self, what: str) -> None:
        """A DriftError naming `what` when the processes disagreed since the last check."""
        gap = self.gap.item()
        self.gap.zero_()
        if gap != 0.0:
            raise DriftError(f"The processes of this data-parallel run no longer hold the same {what} (largest "
                             f"difference {gap:.3g}); the run stopped. Every process must run the same code on "
                             "the same data description and seed: start them with one torchrun command.")


def checksum(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """One float64 number per tensor that differs when the tensor does (its sum and its
    position-weighted sum): a cheap summary of many weights for an Agreement."""
    out = []
    for t in tensors:
        flat = t.detach().reshape(-1).double()
        out.append(torch.stack([flat.sum(), (flat * torch.arange(1, flat.numel() + 1, dtype=torch.float64,
                                                                  device=flat.device)).sum()]))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


class _SumOverProcesses(torch.autograd.Function):
    """All-reduce (sum) with its gradient: the gradient of a sum over processes is the sum of the
    processes' gradients."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        out = grad.clone()
        dist.all_reduce(out)
        return out


def global_batch_norm(bn: _BatchNorm, x: torch.Tensor, weight: torch.Tensor | None,
                      bias: torch.Tensor | None) -> torch.Tensor:
    """Training-mode BatchNorm of `x` with the statistics of the global batch (every process's
    slice), times `weight` plus `bias` (per channel, or None), updating `bn`'s running statistics
    (its num_batches_tracked already counted this batch). Mean and variance are summed over the
    processes with a differentiable all-reduce, in two passes like BatchNorm itself."""
    if x.dim() < 2:
        raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")
    dims = [0, *range(2, x.dim())]
    shape = [1, -1] + [1] * (x.dim() - 2)
    xf = x.float()
    local = torch.cat([xf.sum(dims), xf.new_tensor([xf.numel() / max(x.shape[1], 1)])])
    summed = _SumOverProcesses.apply(local)
    count = summed[-1]
    mean = summed[:-1] / count
    centred = xf - mean.view(shape)
    var = _SumOverProcesses.apply((centred * centred).sum(dims)) / count
    out = centred * torch.rsqrt(var + bn.eps).view(shape)
    if weight is not None:
        out = out * weight.view(shape)
    if bias is not None:
        out = out + bias.view(shape)
    if bn.track_running_stats and bn.running_mean is not None and bn.running_var is not None:
        with torch.no_grad():
            factor = (1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum)
            unbiased = var * (count / (count - 1).clamp(min=1))
            bn.running_mean.mul_(1 - factor).add_(mean.to(bn.running_mean.dtype), alpha=factor)
            bn.running_var.mul_(1 - factor).add_(unbiased.to(bn.running_var.dtype), alpha=factor)
    return out.to(x.dtype)


def over_processes(bn: nn.Module) -> bool:
    """Whether `bn` (a BatchNorm module) normalises over the global batch now: one of
    sync_batchnorm's, training, with a process group of more than one process."""
    import torch.distributed as dist

    return (isinstance(bn, (GlobalBatchNorm, nn.SyncBatchNorm)) and bn.training and dist.is_available()
            and dist.is_initialized() and dist.get_world_size() > 1)


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm whose training-mode statistics are those of the global batch, on any device and
    backend (torch's SyncBatchNorm needs a GPU): global_batch_norm; eval mode is plain BatchNorm."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        self._check_input_dim(x)
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        return global_batch_norm(self, x, self.weight if self.affine else None, self.bias if self.affine else None)


def sync_batchnorm(model: nn.Module, device: torch.device) -> list[tuple[nn.Module, str, nn.Module]]:
    """Replace every BatchNorm of `model` by one over the global batch (torch's SyncBatchNorm on CUDA,
    GlobalBatchNorm elsewhere) sharing its weights and statistics; returns what `restore` undoes."""
    swapped = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if not isinstance(child, _BatchNorm) or isinstance(child, (nn.SyncBatchNorm, GlobalBatchNorm)):
                continue
            kind = nn.SyncBatchNorm if device.type == "cuda" else GlobalBatchNorm
            sync = kind(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            if child.affine:
                sync.weight, sync.bias = child.weight, child.bias
            if child.track_running_stats:
                sync.running_mean, sync.running_var = child.running_mean, child.running_var
                sync.num_batches_tracked = child.num_batches_tracked
            # hooks go along (fine-tuning's frozen statistics are a forward pre-hook)
            sync._forward_pre_hooks, sync._forward_hooks = child._forward_pre_hooks, child._forward_hooks
            sync.train(child.training)
            setattr(parent, name, sync)
            swapped.append((parent, name, child))
    return swapped


def restore(swapped: list[tuple[nn.Module, str, nn.Module]]) -> None:
    """Put back the BatchNorm modules `sync_batchnorm` replaced (their tensors hold the trained values)."""
    for parent, name, original in reversed(swapped):
        original.train(getattr(parent, name).training)
        setattr(parent, name, original)
