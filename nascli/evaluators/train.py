"""Score a candidate by training it briefly from scratch and measuring validation accuracy."""

from __future__ import annotations

import time

import torch

from nascli.evaluators.base import Evaluator
from nascli.registry import EVALUATORS
from nascli.spaces.base import Arch
from nascli.training.loop import train


@EVALUATORS.register("train")
class TrainEvaluator(Evaluator):
    """Short proxy training (the trainer group) on the train split, scored on the validation split."""

    def evaluate(self, arch: Arch) -> dict[str, float]:
        ctx = self.context
        data = ctx.data
        start = time.perf_counter()
        torch.manual_seed(self.arch_seed(arch))
        model = ctx.space.build_network(arch, data.num_classes, data.in_channels, data.input_size)
        history = train(model, data, ctx.trainer, ctx.device, seed=self.arch_seed(arch))
        last = history[-1] if history else {"val_accuracy": float("nan"), "train_accuracy": float("nan")}
        return {
            "val_accuracy": last["val_accuracy"],
            "train_accuracy": last["train_accuracy"],
            "cost_s": time.perf_counter() - start,
        }
