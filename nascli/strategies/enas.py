"""ENAS (Pham et al., ICML 2018): an LSTM controller (the `reinforce` strategy's) samples paths of a
shared-weight supernet; each epoch alternates child steps (shared weights trained on sampled
paths by the search's trainer) and controller steps (REINFORCE on the paths' accuracy on a validation batch).

One proposal per epoch: the best of `derive_samples` controller samples on one validation batch,
scored on the whole validation half with BN statistics recalibrated. The result is the last row,
as for DARTS.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from typing import Any

import torch

from nascli.registry import STRATEGIES
from nascli.spaces.base import Arch, SearchSpace
from nascli.strategies.base import (Artifacts, OneShotStrategy, Proposal, SearchContext, build_optimizer,
                                    require_positive)
from nascli.strategies.controller import Controller, Reinforce, propose_valid, torch_generator
from nascli.training.loop import TrainConfig
from nascli.training.metrics import score
from nascli.training.text import is_lm, perplexity_of
from nascli.weight_sharing.batches import epoch_batches, epoch_seed, fixed_batches, search_halves, shuffled_batches
from nascli.weight_sharing.single_path import PathScorer, PathStep, path_training, train_paths


def batch_reward(net: Any, arch: Arch, batch: tuple[torch.Tensor, torch.Tensor], lm: bool = False) -> float:
    """Accuracy (percent) of `arch` on one batch with batch statistics (ENAS' minibatch reward); for
    a language model 100 / perplexity, ENAS' c / ppl with c = 100 (on the same scale)."""
    net.train()
    accuracy, loss = score(lambda x: net(x, arch=arch), [batch])
    return 100.0 * math.exp(-loss) if lm else accuracy


@STRATEGIES.register("enas")
class ENAS(OneShotStrategy):
    """Child and controller steps alternate each epoch; the controller is the `reinforce` one."""

    def __init__(self, space: SearchSpace, seed: int, trainer: TrainConfig, hidden: int,
                 controller_optimizer: dict[str, Any], baseline_decay: float, entropy_weight: float,
                 temperature: float, tanh_constant: float | None, controller_steps: int, aggregate: int,
                 derive_samples: int, recalibration_batches: int, sample_batch: int, max_batches: int) -> None:
        super().__init__(space, seed, trainer)
        require_positive("enas", aggregate=aggregate, derive_samples=derive_samples)
        self.epochs = trainer.epochs
        self.policy = dict(hidden=hidden, temperature=temperature, tanh_constant=tanh_constant)
        self.controller_optimizer = controller_optimizer
        self.learning = dict(baseline_decay=baseline_decay, entropy_weight=entropy_weight)
        self.controller_steps, self.aggregate, self.derive_samples = controller_steps, aggregate, derive_samples
        self.recalibration_batches = recalibration_batches
        self.sample_batch, self.max_batches = sample_batch, max_batches
        self.prior_log_probs = None  # a meta prior's gene distribution: the controller's initial policy

    def warm_start(self, prior: Any, task: Any) -> None:
        """The controller's initial policy samples from the prior's gene distribution."""
        self.prior_log_probs = prior.gene_log_probs

    def setup(self, context: SearchContext) -> None:
        data, device = context.data, context.device
        self.data, self.device = data, device
        self.train_half, self.val_half = search_halves(data, self.seed)
        self.net, self.runner, self.optimizer, self.schedule = path_training(self.space, data, device, self.seed,
                                                                              self.trainer)
        self.generator = torch_generator(self.seed)
        self.controller = Controller(self.space.cardinalities(), generator=self.generator, **self.policy)
        if self.prior_log_probs is not None:
            self.controller.set_prior(self.prior_log_probs)
        optimizer = build_optimizer(self.controller_optimizer, "strategy.controller_optimizer", self.controller.parameters())
        self.learner = Reinforce(self.controller, optimizer=optimizer, **self.learning)
        eval_batch = self.trainer.eval_batch_size
        self.validation = fixed_batches(self.val_half, data, eval_batch, None, self.seed + 1, device)
        self.scorer = PathScorer(self.net, fixed_batches(self.train_half, data, eval_batch,
                                                         self.recalibration_batches, self.seed, device), self.validation)
        self.epoch = 0

    def steps(self) -> int:
        return self.epochs

    def schedule_text(self) -> str:
        return f"{self.epochs} epoch{'s' * (self.epochs != 1)}"

    def step(self) -> Proposal | None:
        if self.epoch >= self.epochs:
            return None
        epoch = self.epoch
        torch.manual_seed(epoch_seed(self.seed, epoch, 0))
        fallback = random.Random(epoch_seed(self.seed, epoch, 4))
        loader = epoch_batches(self.train_half, self.data, self.trainer.batch_size, self.seed, epoch, 2, self.device)
        lr = self.schedule.get_last_lr()[0]
        step = PathStep(self.runner, self.net, self.optimizer, lambda: self._sample(fallback), self.trainer.grad_clip)
        stats = train_paths(self.runner, step, loader, carry=is_lm(self.data))
        self.schedule.step()
        rewards = self._controller_steps(epoch, fallback)
        arch = self._derive(fallback)
        accuracy, loss = self.scorer.scores(arch)
        self.epoch = epoch + 1
        baseline = self.learner.baseline or 0.0
        return Proposal(arch, {"val_accuracy": accuracy, "train_accuracy": stats["train_accuracy"],
                               **perplexity_of(self.data, loss)},
                        {"epoch": epoch + 1, "lr": lr, "train_loss": stats["train_loss"], "mean_reward": rewards,
                         "baseline": baseline},
                        info=f"derived {accuracy:.1f}% baseline {baseline:.3f}")

    def _sample(self, fallback: random.Random) -> Arch:
        """A valid path from the controller's policy (a uniform one if rejection sampling fails)."""
        arch = propose_valid(self.controller, self.space, self.generator, set(), self.sample_batch, self.max_batches)
        return self.space.sample(fallback) if arch is None else arch

    def _controller_steps(self, epoch: int, fallback: random.Random) -> float:
        """`controller_steps` REINFORCE steps of `aggregate` paths, each rewarded by its accuracy
        (as a fraction, like ENAS) on the next validation batch; returns the mean reward (percent)."""
        batches = itertools.cycle(shuffled_batches(self.val_half, self.data, self.trainer.batch_size,
                                                   epoch_seed(self.seed, epoch, 3), self.device))
        total, count = 0.0, 0
        for _ in range(self.controller_steps):
            archs = [self._sample(fallback) for _ in range(self.aggregate)]
            rewards = [batch_reward(self.net, arch, next(batches), is_lm(self.data)) for arch in archs]
            self.learner.step([self.space.encode(a) for a in archs], [r / 100.0 for r in rewards])
            total, count = total + sum(rewards), count + len(rewards)
        return total / max(count, 1)

    def _derive(self, fallback: random.Random) -> Arch:
        """The best of `derive_samples` controller samples, each scored on one validation batch."""
        candidates = [self._sample(fallback) for _ in range(self.derive_samples)]
        scores = [batch_reward(self.net, arch, self.validation[i % len(self.validation)], is_lm(self.data))
                  for i, arch in enumerate(candidates)]
        return candidates[max(range(len(candidates)), key=lambda i: scores[i])]

    def artifacts(self, rows: Sequence[dict[str, Any]], final: bool) -> Artifacts:
        """report.json records how the supernet's steps ran (the trainer's switches as resolved)."""
        if not final:
            return Artifacts()
        return Artifacts(results={"compile": self.runner.how.mode, "speed": self.runner.how.describe()})

    # --- resume ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        baseline = self.learner.baseline
        return {"epoch": self.epoch, "supernet": self.net.state_dict(), "w_opt": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(), "controller": self.controller.state_dict(),
                "c_opt": self.learner.optimizer.state_dict(), "generator": self.generator.get_state(),
                "baseline": torch.tensor(float("nan") if baseline is None else baseline, dtype=torch.float64)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["supernet"])
        self.optimizer.load_state_dict(state["w_opt"])
        self.schedule.load_state_dict(state["schedule"])
        self.controller.load_state_dict(state["controller"])
        self.learner.optimizer.load_state_dict(state["c_opt"])
        self.generator.set_state(state["generator"])
        baseline = float(state["baseline"])
        self.learner.baseline = None if baseline != baseline else baseline
        self.epoch = int(state["epoch"])
