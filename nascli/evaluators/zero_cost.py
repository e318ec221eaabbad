"""Zero-cost proxies: score an untrained network from one batch at initialisation (Abdelfattah et
al., ICLR 2021; Mellor et al., ICML 2021). The score is not an accuracy: it is reported in its own
column `zc_<proxy>` and is the metric the hardware objective turns into the search's objective."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from nascli.data.loader import BatchLoader
from nascli.errors import ConfigError, UnscorableError
from nascli.evaluators.base import EvalContext, Evaluator
from nascli.registry import EVALUATORS
from nascli.spaces.base import Arch
from nascli.training.metrics import logits_of

WEIGHTED = (nn.Conv2d, nn.Linear)
LOG_ZERO = math.log(5e-324)  # log of the smallest positive double (-744.4): the log score of a zero score


def _log(value: float) -> float:
    """log(value), LOG_ZERO for 0 (a score of zero is the lowest, and defined)."""
    return math.log(value) if value > 0 else LOG_ZERO


def _weight_saliency(model: nn.Module) -> float:
    """Sum of |w * dL/dw| over convolution and linear weights (after a backward pass)."""
    return float(sum((m.weight.detach() * m.weight.grad).abs().sum() for m in model.modules()
                     if isinstance(m, WEIGHTED) and m.weight.grad is not None))


def synflow(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """log of SynFlow (Tanaka et al., 2020): saliency of R = sum(f(1)) with |weights|, in double
    precision, BN at its initial statistics; data-independent (only the input shape is used)."""
    model = model.double().eval()
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    model.zero_grad()
    logits_of(model(torch.ones(1, *x.shape[1:], dtype=torch.float64, device=x.device))).sum().backward()
    return _log(_weight_saliency(model))


def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """SNIP (Lee et al., 2019): connection sensitivity |w * dL/dw| of the cross-entropy on the batch."""
    model.train().zero_grad()
    nn.functional.cross_entropy(logits_of(model(x)), y).backward()
    return _weight_saliency(model)


def jacov(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Jacobian covariance (Mellor et al., 2020, v1): how uncorrelated the input gradients of the
    batch's samples are; higher is better."""
    model.train().zero_grad()
    x = x.clone().requires_grad_(True)
    logits_of(model(x)).sum().backward()
    # an output that does not depend on the input has a zero Jacobian (autograd leaves the grad unset)
    grad = torch.zeros_like(x) if x.grad is None else x.grad
    jacobians = grad.reshape(x.shape[0], -1).double().cpu().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):  # a zero Jacobian's correlations are 0/0: taken as 0
        corr = np.nan_to_num(np.corrcoef(jacobians))
    eig = np.clip(np.linalg.eigvalsh(corr), 0.0, None)
    k = 1e-5
    return float(-np.sum(np.log(eig + k) + 1.0 / (eig + k)))


def nwot(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """NASWOT (Mellor et al., ICML 2021): log-determinant of the Hamming-similarity kernel of the
    samples' binary ReLU activation codes."""
    n = x.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64)

    def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        codes = (output.detach() > 0).flatten(1).double().cpu()
        kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            model.train()(x)
    finally:
        for handle in handles:
            handle.remove()
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else LOG_ZERO  # a singular kernel: samples the ReLUs cannot tell apart


PROXIES: dict[str, Callable[[nn.Module, torch.Tensor, torch.Tensor], float]] = {
    "synflow": synflow, "snip": snip, "jacov": jacov, "nwot": nwot,
}


@EVALUATORS.register("zero_cost")
class ZeroCostEvaluator(Evaluator):
    """Builds the network at a seed fixed by (run seed, arch), scores it on one training batch."""

    def __init__(self, context: EvalContext, proxy: str, batch_size: int) -> None:
        super().__init__(context)
        if proxy not in PROXIES:
            raise ConfigError(f"evaluator.proxy must be one of {', '.join(PROXIES)}, got {proxy!r}.")
        if batch_size < 2:
            raise ConfigError(f"evaluator.batch_size must be at least 2, got {batch_size}.")
        self.proxy, self.batch_size = proxy, batch_size
        self.objective_metric = f"zc_{proxy}"
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One normalised batch of training images drawn at the run seed (the same for every arch)."""
        if self._batch is None:
            data = self.context.data
            generator = torch.Generator().manual_seed(self.context.seed)
            index = torch.randperm(len(data.train), generator=generator)[: self.batch_size]
            loader = BatchLoader(data.train.subset(index), data, self.batch_size, device=self.context.device)
            self._batch = next(iter(loader))
        return self._batch

    def score(self, arch: Arch, x: torch.Tensor, y: torch.Tensor) -> float:
        """The proxy of `arch` on the batch (x, y), at the architecture's initialisation seed."""
        torch.manual_seed(self.arch_seed(arch))
        model = self.context.space.build_network(arch, *self.network_shape()).to(x.device)
        try:
            return PROXIES[self.proxy](model, x, y)
        except (RuntimeError, ValueError, np.linalg.LinAlgError) as exc:  # this network cannot be run or scored
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise UnscorableError(f"the {self.proxy} proxy could not score this network ({first})") from None

    def evaluate(self, arch: Arch, fidelity: int | None = None) -> dict[str, float]:
        self.one_fidelity(fidelity)
        start = time.perf_counter()
        value = self.score(arch, *self.batch())
        return {self.objective_metric: value, "cost_s": time.perf_counter() - start}
