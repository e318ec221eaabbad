"""ENAS (Pham et al., ICML 2018): an LSTM controller (the `reinforce` strategy's) samples paths of a
shared-weight supernet; each epoch alternates child steps (shared weights trained on sampled
paths) and controller steps (REINFORCE on the paths' accuracy on a validation batch).

trials.csv: one row per epoch for the architecture derived then: the best of `derive_samples`
controller samples on one validation batch, scored on the whole validation half with BN
statistics recalibrated. The result is the last row, as for DARTS.
"""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

import torch

from nascli.data.loader import BatchLoader
from nascli.spaces.base import Arch, SearchSpace
from nascli.strategies.base import OneShotStrategy
from nascli.strategies.controller import Controller, Reinforce, propose_valid, torch_generator
from nascli.strategies.darts import epoch_seed, split_halves
from nascli.strategies.weight_sharing import (build_single_path, check_sizes, fixed_batches, path_accuracy,
                                              recalibrate_bn, train_paths, weight_optimizer)


@torch.no_grad()
def batch_reward(net: Any, arch: Arch, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Accuracy (percent) of `arch` on one batch with batch statistics (ENAS' minibatch reward)."""
    x, y = batch
    net.train()
    return 100.0 * float((net(x, arch=arch).argmax(1) == y).float().mean())


class ENAS(OneShotStrategy):
    """Child and controller steps alternate each epoch; the controller is the `reinforce` one."""

    def __init__(self, space: SearchSpace, seed: int = 0, epochs: int = 150, batch_size: int = 64,
                 channels: int = 16, layers: int = 8, lr: float = 0.05, lr_min: float = 0.0005,
                 momentum: float = 0.9, weight_decay: float = 1e-4, grad_clip: float = 5.0, hidden: int = 64,
                 controller_lr: float = 0.0035, baseline_decay: float = 0.99, entropy_weight: float = 1e-4,
                 temperature: float = 5.0, tanh_constant: float | None = 1.10, controller_steps: int = 30,
                 aggregate: int = 10, derive_samples: int = 100, recalibration_batches: int = 20,
                 eval_batch_size: int = 256, sample_batch: int = 64, max_batches: int = 20) -> None:
        super().__init__(space, seed)
        check_sizes("enas", epochs=epochs, batch_size=batch_size, channels=channels, layers=layers,
                    aggregate=aggregate, derive_samples=derive_samples, eval_batch_size=eval_batch_size)
        self.epochs, self.batch_size, self.channels, self.layers = epochs, batch_size, channels, layers
        self.optim = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, epochs=epochs, lr_min=lr_min)
        self.grad_clip = grad_clip
        self.policy = dict(hidden=hidden, temperature=temperature, tanh_constant=tanh_constant)
        self.learning = dict(lr=controller_lr, baseline_decay=baseline_decay, entropy_weight=entropy_weight)
        self.controller_steps, self.aggregate, self.derive_samples = controller_steps, aggregate, derive_samples
        self.recalibration_batches, self.eval_batch_size = recalibration_batches, eval_batch_size
        self.sample_batch, self.max_batches = sample_batch, max_batches
        self.prior_log_probs = None  # a meta prior's gene distribution: the controller's initial policy

    def warm_start(self, prior, task) -> None:
        """The controller's initial policy samples from the prior's gene distribution."""
        self.prior_log_probs = prior.gene_log_probs

    # --- the search ----------------------------------------------------------------------------
    def search(self, run: Any) -> None:
        data, device = run.data, run.device
        train, val = split_halves(data.train, self.seed)
        parts = self._build(run)
        epoch = self._restore(parts, run.load_state())
        calibration = fixed_batches(train, data, self.eval_batch_size, self.recalibration_batches, self.seed, device)
        validation = fixed_batches(val, data, self.eval_batch_size, None, self.seed + 1, device)
        with run.progress(self.epochs, "ENAS") as advance:
            while epoch < self.epochs and not run.should_stop():
                row = self._epoch(run, parts, train, val, calibration, validation, epoch)
                epoch += 1
                run.save_state(self._state(parts, epoch))
                advance(f"derived {row['val_accuracy']:.1f}% baseline {row['baseline']:.3f}")
        if run.trials.rows:
            run.choose(run.trials.rows[-1])

    def _build(self, run: Any) -> dict[str, Any]:
        net = build_single_path(self.space, run.data, run.device, self.seed, self.channels, self.layers)
        optimizer, schedule = weight_optimizer(net, **self.optim)
        generator = torch_generator(self.seed)
        controller = Controller(self.space.cardinalities(), generator=generator, **self.policy)
        if self.prior_log_probs is not None:
            controller.set_prior(self.prior_log_probs)
        return {"net": net, "w_opt": optimizer, "schedule": schedule, "generator": generator,
                "controller": controller, "learner": Reinforce(controller, **self.learning)}

    def _sample(self, parts: dict[str, Any], fallback: random.Random) -> Arch:
        """A valid path from the controller's policy (a uniform one if rejection sampling fails)."""
        arch = propose_valid(parts["controller"], self.space, parts["generator"], set(), self.sample_batch,
                             self.max_batches)
        return self.space.sample(fallback) if arch is None else arch

    def _epoch(self, run: Any, parts: dict[str, Any], train: Any, val: Any, calibration: list, validation: list,
               epoch: int) -> dict[str, Any]:
        net, start = parts["net"], time.perf_counter()
        torch.manual_seed(epoch_seed(self.seed, epoch, 0))
        fallback = random.Random(epoch_seed(self.seed, epoch, 4))
        loader = BatchLoader(train, run.data, self.batch_size, train=True, seed=epoch_seed(self.seed, epoch, 2),
                             device=run.device, drop_last=len(train) > self.batch_size)
        lr = parts["schedule"].get_last_lr()[0]
        stats = train_paths(net, loader, parts["w_opt"], lambda: self._sample(parts, fallback), self.grad_clip)
        parts["schedule"].step()
        rewards = self._controller_steps(parts, val, run, epoch, fallback)
        arch = self._derive(parts, validation, fallback)
        recalibrate_bn(net, arch, calibration)
        accuracy = path_accuracy(net, arch, validation)
        return run.record(arch, {"val_accuracy": accuracy, "train_accuracy": stats["train_accuracy"]},
                          cost_s=time.perf_counter() - start, epoch=epoch + 1, lr=lr, train_loss=stats["train_loss"],
                          mean_reward=rewards, baseline=parts["learner"].baseline or 0.0)

    def _controller_steps(self, parts: dict[str, Any], val: Any, run: Any, epoch: int, fallback: random.Random) -> float:
        """`controller_steps` REINFORCE steps of `aggregate` paths, each rewarded by its accuracy
        (as a fraction, like ENAS) on the next validation batch; returns the mean reward (percent)."""
        batches = itertools.cycle(BatchLoader(val, run.data, self.batch_size, train=True,
                                              seed=epoch_seed(self.seed, epoch, 3), device=run.device))
        total, count = 0.0, 0
        for _ in range(self.controller_steps):
            archs = [self._sample(parts, fallback) for _ in range(self.aggregate)]
            rewards = [batch_reward(parts["net"], arch, next(batches)) for arch in archs]
            parts["learner"].step([self.space.encode(a) for a in archs], [r / 100.0 for r in rewards])
            total, count = total + sum(rewards), count + len(rewards)
        return total / max(count, 1)

    def _derive(self, parts: dict[str, Any], validation: list, fallback: random.Random) -> Arch:
        """The best of `derive_samples` controller samples, each scored on one validation batch."""
        candidates = [self._sample(parts, fallback) for _ in range(self.derive_samples)]
        scores = [batch_reward(parts["net"], arch, validation[i % len(validation)])
                  for i, arch in enumerate(candidates)]
        return candidates[max(range(len(candidates)), key=lambda i: scores[i])]

    # --- resume ----------------------------------------------------------------------------------
    @staticmethod
    def _state(parts: dict[str, Any], epoch: int) -> dict[str, Any]:
        baseline = parts["learner"].baseline
        return {"epoch": epoch, "supernet": parts["net"].state_dict(), "w_opt": parts["w_opt"].state_dict(),
                "schedule": parts["schedule"].state_dict(), "controller": parts["controller"].state_dict(),
                "c_opt": parts["learner"].optimizer.state_dict(), "generator": parts["generator"].get_state(),
                "baseline": torch.tensor(float("nan") if baseline is None else baseline, dtype=torch.float64)}

    @staticmethod
    def _restore(parts: dict[str, Any], state: dict[str, Any] | None) -> int:
        """Load a saved state into `parts`; the epoch to continue from."""
        if state is None:
            return 0
        parts["net"].load_state_dict(state["supernet"])
        parts["w_opt"].load_state_dict(state["w_opt"])
        parts["schedule"].load_state_dict(state["schedule"])
        parts["controller"].load_state_dict(state["controller"])
        parts["learner"].optimizer.load_state_dict(state["c_opt"])
        parts["generator"].set_state(state["generator"])
        baseline = float(state["baseline"])
        parts["learner"].baseline = None if baseline != baseline else baseline
        return int(state["epoch"])
