"""Score an architecture with weights inherited from a trained single-path supernet (SPOS): BN
statistics recalibrated on a few training batches, then accuracy on validation batches."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from nascli.errors import CheckpointError, ConfigError
from nascli.evaluators.base import EvalContext, Evaluator
from nascli.registry import EVALUATORS
from nascli.spaces.base import Arch
from nascli.weight_sharing.batches import fixed_batches
from nascli.weight_sharing.single_path import PathScorer, build_single_path


@EVALUATORS.register("supernet")
class SupernetEvaluator(Evaluator):
    """Inherited-weight accuracy of the supernet of a SPOS run (`checkpoint`: its run directory or
    checkpoint.pt). Scores depend only on (arch, supernet, run seed): the batches are fixed."""

    def __init__(self, context: EvalContext, checkpoint: str | None, recalibration_batches: int, batch_size: int,
                 eval_batches: int | None) -> None:
        super().__init__(context)
        if not checkpoint:
            raise ConfigError("evaluator=supernet scores with a trained supernet: set evaluator.checkpoint=<spos run dir>.")
        if recalibration_batches < 1 or batch_size < 1:
            raise ConfigError("evaluator.recalibration_batches and evaluator.batch_size must be positive.")
        self.checkpoint = Path(checkpoint).expanduser()
        self.recalibration_batches, self.batch_size, self.eval_batches = recalibration_batches, batch_size, eval_batches
        self._scorer: PathScorer | None = None

    def _load(self) -> nn.Module:
        """The supernet of a SPOS run directory's checkpoint.pt (weights only)."""
        file = self.checkpoint / "checkpoint.pt" if self.checkpoint.is_dir() else self.checkpoint
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)["state"]
            weights = state["supernet"]
        except (OSError, KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"{file} is not a SPOS supernet checkpoint ({type(exc).__name__}: {exc}).") from None
        # the supernet is the search space's size; a run from before issue 19 recorded a size of its own
        net = build_single_path(self.context.space, self.context.data, self.context.device, 0,
                                **state.get("supernet_config", {}))
        try:
            net.load_state_dict(weights)
        except RuntimeError as exc:
            trained = " ".join(f"search_space.{k}={v}" for k, v in (state.get("space_config") or {}).items())
            raise CheckpointError(f"{file}: its supernet does not fit this search space's supernet"
                                  + (f"; it was trained with {trained}: search with the same" if trained else "")
                                  + f" ({str(exc).splitlines()[0][:200]}).") from None
        return net

    def scorer(self) -> PathScorer:
        """Loaded on first use: recalibration batches of the training split, validation batches of
        the validation split, both fixed by the run seed."""
        if self._scorer is None:
            data, seed, device = self.context.data, self.context.seed, self.context.device
            self._scorer = PathScorer(
                self._load(),
                fixed_batches(data.train, data, self.batch_size, self.recalibration_batches, seed, device),
                fixed_batches(data.val, data, self.batch_size, self.eval_batches, seed + 1, device))
        return self._scorer

    def evaluate(self, arch: Arch) -> dict[str, float]:
        start = time.perf_counter()
        return {"val_accuracy": self.scorer()(arch), "cost_s": time.perf_counter() - start}
