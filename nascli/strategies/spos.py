"""Single Path One-Shot (Guo et al., ECCV 2020): train a supernet by uniform single-path sampling
(the search's trainer: SGD, cosine schedule, speed switches), then search subnets with an evolutionary algorithm scored by inherited weights (BN recalibrated).

Proposals: one per supernet epoch (phase=supernet: a random path, as a measure of the supernet's
quality), then one per evaluated subnet (phase=evolution). The result is the best evolution row.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch

from nascli.errors import CheckpointError
from nascli.registry import STRATEGIES
from nascli.runtime.metrics import objective_metric
from nascli.spaces.base import Arch, SearchSpace
from nascli.strategies.base import (Artifacts, Objective, OneShotStrategy, Proposal, SearchContext, best_row,
                                    require_positive)
from nascli.strategies.genetic import GeneticAlgorithm
from nascli.training.loop import TrainConfig
from nascli.training.text import is_lm, perplexity_of
from nascli.weight_sharing.batches import epoch_batches, epoch_seed, fixed_batches, search_halves
from nascli.weight_sharing.single_path import PathScorer, PathStep, path_training, train_paths


@STRATEGIES.register("spos")
class SPOS(OneShotStrategy):
    """Uniform single-path supernet training, then a genetic search over inherited-weight scores."""

    def __init__(self, space: SearchSpace, seed: int, trainer: TrainConfig, subnets: int, population: int,
                 elites: int, tournament_size: int, crossover_rate: float, mutation_rate: float,
                 recalibration_batches: int) -> None:
        super().__init__(space, seed, trainer)
        require_positive("spos", subnets=subnets, recalibration_batches=recalibration_batches)
        self.epochs, self.subnets = trainer.epochs, subnets
        self.evolution_options = dict(population=population, elites=elites, tournament_size=tournament_size,
                                      crossover="one_point", crossover_points=2, crossover_rate=crossover_rate,
                                      mutation_rate=mutation_rate, max_retries=20)
        self.recalibration_batches = recalibration_batches
        self.prior: tuple[Any, Any] | None = None  # (meta prior, task): the subnet evolution's generation 0

    def warm_start(self, prior: Any, task: Any) -> None:
        """The subnet evolution starts from the prior's best-predicted architectures."""
        self.prior = (prior, task)

    def setup(self, context: SearchContext) -> None:
        data, device = context.data, context.device
        self.data, self.device = data, device
        self.train_half, val_half = search_halves(data, self.seed)
        self.net, self.runner, self.optimizer, self.schedule = path_training(self.space, data, device, self.seed,
                                                                              self.trainer)
        eval_batch = self.trainer.eval_batch_size
        self.scorer = PathScorer(
            self.net,
            fixed_batches(self.train_half, data, eval_batch, self.recalibration_batches, self.seed, device),
            fixed_batches(val_half, data, eval_batch, None, self.seed + 1, device))
        self.evolution = GeneticAlgorithm(self.space, self.seed, **self.evolution_options)
        if self.prior is not None:
            self.evolution.warm_start(*self.prior)
        self.epoch, self.evolving = 0, False
        self.told: list[list[Any]] = []  # [arch_str, objective] of every evaluated subnet, in order

    def steps(self) -> int:
        return self.epochs + self.subnets

    def schedule_text(self) -> str:
        return f"{self.epochs} supernet epoch{'s' * (self.epochs != 1)}, then {self.subnets} subnets"

    def step(self) -> Proposal | None:
        self.evolving = self.epoch >= self.epochs
        if not self.evolving:
            return self._train_epoch()
        if len(self.told) >= self.subnets:
            return None
        arch = self.evolution.ask()
        accuracy, loss = self.scorer.scores(arch)
        return Proposal(arch, {"val_accuracy": accuracy, **perplexity_of(self.data, loss)}, {"phase": "evolution"},
                        info=f"subnet {accuracy:.1f}%")

    def tell(self, arch: Arch, objective: Objective) -> None:
        if self.evolving:
            self.evolution.tell(arch, objective)
            self.told.append([self.space.to_str(arch), objective])

    def _train_epoch(self) -> Proposal:
        """Train every batch on a uniformly sampled path; propose a random path, scored."""
        epoch = self.epoch
        torch.manual_seed(epoch_seed(self.seed, epoch, 0))
        paths = random.Random(epoch_seed(self.seed, epoch, 4))
        loader = epoch_batches(self.train_half, self.data, self.trainer.batch_size, self.seed, epoch, 2, self.device)
        lr = self.schedule.get_last_lr()[0]
        step = PathStep(self.runner, self.net, self.optimizer, lambda: self.space.sample(paths), self.trainer.grad_clip)
        stats = train_paths(self.runner, step, loader, carry=is_lm(self.data))
        self.schedule.step()
        self.epoch = epoch + 1
        probe = self.space.sample(paths)
        accuracy, loss = self.scorer.scores(probe)
        return Proposal(probe, {"val_accuracy": accuracy, "train_accuracy": stats["train_accuracy"],
                                **perplexity_of(self.data, loss)},
                        {"phase": "supernet", "epoch": epoch + 1, "lr": lr, "train_loss": stats["train_loss"]},
                        info=f"supernet epoch {epoch + 1}: random path {accuracy:.1f}%")

    def choose(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
        return best_row([r for r in rows if r.get("phase") == "evolution"], objective_metric(self.data))

    def artifacts(self, rows: Sequence[dict[str, Any]], final: bool) -> Artifacts:
        """report.json records how the supernet's steps ran (the trainer's switches as resolved)."""
        if not final:
            return Artifacts()
        return Artifacts(results={"compile": self.runner.how.mode, "speed": self.runner.how.describe()})

    # --- resume --------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "supernet": self.net.state_dict(), "w_opt": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(),
                "space_config": self.space.config(), "evolution": self.told}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Weights and schedule from the state; the evolution by replaying its told objectives."""
        self.net.load_state_dict(state["supernet"])
        self.optimizer.load_state_dict(state["w_opt"])
        self.schedule.load_state_dict(state["schedule"])
        self.epoch = int(state["epoch"])
        for arch_str, objective in state.get("evolution", []):
            arch = self.evolution.ask()
            if self.space.to_str(arch) != arch_str:
                raise CheckpointError("The saved subnet evolution does not replay with this seed and settings; "
                                      "was the code or config changed?")
            objective = tuple(map(float, objective)) if isinstance(objective, (list, tuple)) else float(objective)
            self.evolution.tell(arch, objective)
            self.told.append([arch_str, objective])
