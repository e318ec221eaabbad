"""Score an architecture with weights inherited from a trained single-path supernet (SPOS): BN
statistics recalibrated on a few training batches, then accuracy on validation batches."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nascli.errors import CheckpointError, ConfigError
from nascli.evaluators.base import EvalContext, Evaluator
from nascli.spaces.base import Arch
from nascli.strategies.weight_sharing import build_single_path, fixed_batches, path_accuracy, recalibrate_bn


class SupernetEvaluator(Evaluator):
    """Inherited-weight accuracy of `net` (given by SPOS, or read from a SPOS run's `checkpoint`).

    Scores depend only on (arch, supernet, run seed): recalibration and validation batches are fixed.
    """

    def __init__(self, context: EvalContext, checkpoint: str | None = None, net: nn.Module | None = None,
                 recalibration_batches: int = 10, batch_size: int = 128, eval_batches: int | None = None,
                 val_split: Any = None, train_split: Any = None) -> None:
        super().__init__(context)
        if net is None and not checkpoint:
            raise ConfigError("evaluator=supernet scores with a trained supernet: set evaluator.checkpoint=<spos run dir>.")
        if recalibration_batches < 1 or batch_size < 1:
            raise ConfigError("evaluator.recalibration_batches and evaluator.batch_size must be positive.")
        self.net = net if net is not None else self._load(Path(checkpoint).expanduser())
        self.recalibration_batches, self.batch_size, self.eval_batches = recalibration_batches, batch_size, eval_batches
        self._splits = (train_split, val_split)
        self._batches: tuple[list, list] | None = None

    def _load(self, path: Path) -> nn.Module:
        """The supernet of a SPOS run directory's checkpoint.pt (weights only)."""
        file = path / "checkpoint.pt" if path.is_dir() else path
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)["state"]
            config, weights = state["supernet_config"], state["supernet"]
        except (OSError, KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"{file} is not a SPOS supernet checkpoint ({type(exc).__name__}: {exc}).") from None
        net = build_single_path(self.context.space, self.context.data, self.context.device, 0, **config)
        net.load_state_dict(weights)
        return net

    def batches(self) -> tuple[list, list]:
        """(recalibration batches of the training split, validation batches), fixed by the run seed."""
        if self._batches is None:
            data, seed, device = self.context.data, self.context.seed, self.context.device
            train, val = (s if s is not None else d for s, d in zip(self._splits, (data.train, data.val)))
            self._batches = (fixed_batches(train, data, self.batch_size, self.recalibration_batches, seed, device),
                             fixed_batches(val, data, self.batch_size, self.eval_batches, seed + 1, device))
        return self._batches

    def evaluate(self, arch: Arch) -> dict[str, float]:
        start = time.perf_counter()
        calibration, validation = self.batches()
        recalibrate_bn(self.net, arch, calibration)
        return {"val_accuracy": path_accuracy(self.net, arch, validation), "cost_s": time.perf_counter() - start}
