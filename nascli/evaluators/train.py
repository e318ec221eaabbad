"""Score a candidate by training it briefly from scratch and measuring validation accuracy."""

from __future__ import annotations

import time
from dataclasses import asdict, replace

import torch

from nascli.evaluators.base import EvalContext, Evaluator
from nascli.registry import EVALUATORS
from nascli.runtime.config import check_fields
from nascli.runtime.metrics import objective_metric
from nascli.spaces.base import Arch
from nascli.training.loop import TrainConfig, train
from nascli.training.text import is_text, train_text


@EVALUATORS.register("train")
class TrainEvaluator(Evaluator):
    """Short proxy training (the trainer group) on the train split, scored on the validation split;
    a candidate that chose training hyper-parameters (search_space.hparams) is trained with them."""

    trains = True

    def __init__(self, context: EvalContext) -> None:
        super().__init__(context)
        for key, choices in context.space.hparam_choices().items():  # each value makes a valid trainer config
            for value in choices:
                check_fields({**asdict(context.trainer), key: value}, TrainConfig, "search_space.hparams")

    @property
    def objective_metric(self) -> str:  # type: ignore[override]
        """val_accuracy, or what the data says it is validated by (text_lm: val_perplexity)."""
        return objective_metric(self.context.data) if self.context.space.tokens else "val_accuracy"

    def max_fidelity(self) -> int:
        return self.context.trainer.epochs

    def evaluate(self, arch: Arch, fidelity: int | None = None) -> dict[str, float]:
        """Train `fidelity` epochs (None: the trainer's) from scratch, with the schedule of that length."""
        ctx = self.context
        data = ctx.data
        start = time.perf_counter()
        trainer = replace(ctx.trainer, **ctx.space.training(arch))
        trainer = trainer if fidelity is None else replace(trainer, epochs=fidelity)
        torch.manual_seed(self.arch_seed(arch))
        model = ctx.space.build_network(arch, data.num_classes, data.in_channels, data.input_size)
        if is_text(data):  # token data: next-token perplexity or text accuracy (nascli.training.text)
            history = train_text(model, data, trainer, ctx.device, seed=self.arch_seed(arch))
            metric = objective_metric(data)
            last = history[-1] if history else {}
            train_metric = metric.replace("val_", "train_")
            return {metric: last.get(metric, float("nan")), train_metric: last.get(train_metric, float("nan")),
                    "cost_s": time.perf_counter() - start}
        history = train(model, data, trainer, ctx.device, seed=self.arch_seed(arch))
        last = history[-1] if history else {"val_accuracy": float("nan"), "train_accuracy": float("nan")}
        return {
            "val_accuracy": last["val_accuracy"],
            "train_accuracy": last["train_accuracy"],
            "cost_s": time.perf_counter() - start,
        }
