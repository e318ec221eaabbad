"""Single Path One-Shot (Guo et al., ECCV 2020): train a supernet by uniform single-path sampling,
then search subnets with an evolutionary algorithm scored by inherited weights (BN recalibrated).

trials.csv: one row per supernet epoch (phase=supernet: a random path, as a measure of the
supernet's quality), then one row per evaluated subnet (phase=evolution). The result is the best
evolution row. Resume: supernet epochs from checkpoint.pt; evolution by replaying its rows.
"""

from __future__ import annotations

import random
import time
from types import SimpleNamespace
from typing import Any

import torch

from nascli.data.loader import BatchLoader
from nascli.evaluators.base import EvalContext
from nascli.evaluators.supernet import SupernetEvaluator
from nascli.search.loop import replay
from nascli.spaces.base import SearchSpace
from nascli.strategies.base import OneShotStrategy
from nascli.strategies.darts import epoch_seed, split_halves
from nascli.strategies.genetic import GeneticAlgorithm
from nascli.strategies.weight_sharing import build_single_path, check_sizes, train_paths, weight_optimizer


class SPOS(OneShotStrategy):
    """Uniform single-path supernet training, then a genetic search over inherited-weight scores."""

    def __init__(self, space: SearchSpace, seed: int = 0, epochs: int = 120, batch_size: int = 64,
                 channels: int = 16, layers: int = 8, lr: float = 0.025, lr_min: float = 0.0,
                 momentum: float = 0.9, weight_decay: float = 4e-5, grad_clip: float = 5.0,
                 subnets: int = 1000, population: int = 50, elites: int = 10, tournament_size: int = 3,
                 crossover_rate: float = 0.5, mutation_rate: float = 0.1, recalibration_batches: int = 20,
                 eval_batch_size: int = 256) -> None:
        super().__init__(space, seed)
        check_sizes("spos", epochs=epochs, batch_size=batch_size, channels=channels, layers=layers,
                    subnets=subnets, recalibration_batches=recalibration_batches, eval_batch_size=eval_batch_size)
        self.epochs, self.batch_size, self.channels, self.layers = epochs, batch_size, channels, layers
        self.optim = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, epochs=epochs, lr_min=lr_min)
        self.grad_clip, self.subnets = grad_clip, subnets
        self.evolution = dict(population=population, elites=elites, tournament_size=tournament_size,
                              crossover_rate=crossover_rate, mutation_rate=mutation_rate)
        self.recalibration_batches, self.eval_batch_size = recalibration_batches, eval_batch_size
        self.prior = None  # (meta prior, task): the subnet evolution's generation 0

    def warm_start(self, prior, task) -> None:
        """The subnet evolution starts from the prior's best-predicted architectures."""
        self.prior = (prior, task)

    def search(self, run: Any) -> None:
        data, device = run.data, run.device
        halves = split_halves(data.train, self.seed)
        net = build_single_path(self.space, data, device, self.seed, self.channels, self.layers)
        optimizer, schedule = weight_optimizer(net, **self.optim)
        state = run.load_state() or {"epoch": 0}
        if "supernet" in state:
            net.load_state_dict(state["supernet"])
            optimizer.load_state_dict(state["w_opt"])
            schedule.load_state_dict(state["schedule"])
        scorer = SupernetEvaluator(EvalContext(self.space, self.seed, device, None, load_data=lambda: data), net=net,
                                   recalibration_batches=self.recalibration_batches, batch_size=self.eval_batch_size,
                                   train_split=halves[0], val_split=halves[1])

        def save(epoch: int) -> None:
            run.save_state({"epoch": epoch, "supernet": net.state_dict(), "w_opt": optimizer.state_dict(),
                            "schedule": schedule.state_dict(),
                            "supernet_config": {"channels": self.channels, "layers": self.layers}})

        with run.progress(self.epochs + self.subnets, "SPOS") as advance:
            epoch = int(state["epoch"])
            while epoch < self.epochs and not run.should_stop():
                row = self._train_epoch(run, net, optimizer, schedule, scorer, halves[0], epoch)
                epoch += 1
                save(epoch)
                advance(f"supernet epoch {epoch}: random path {row['val_accuracy']:.1f}%")
            if epoch >= self.epochs:
                self._evolve(run, scorer, lambda: save(epoch), advance)
        evolved = [r for r in run.trials.rows if r.get("phase") == "evolution" and r.get("objective") is not None]
        if evolved:
            run.choose(max(evolved, key=lambda r: r["objective"]))

    def _train_epoch(self, run: Any, net: Any, optimizer: Any, schedule: Any, scorer: SupernetEvaluator,
                     train: Any, epoch: int) -> dict[str, Any]:
        """Train every batch on a uniformly sampled path; record a random path's inherited score."""
        torch.manual_seed(epoch_seed(self.seed, epoch, 0))
        paths = random.Random(epoch_seed(self.seed, epoch, 4))
        loader = BatchLoader(train, run.data, self.batch_size, train=True, seed=epoch_seed(self.seed, epoch, 2),
                             device=run.device, drop_last=len(train) > self.batch_size)
        start = time.perf_counter()
        lr = schedule.get_last_lr()[0]
        stats = train_paths(net, loader, optimizer, lambda: self.space.sample(paths), self.grad_clip)
        schedule.step()
        probe = self.space.sample(paths)
        metrics = scorer.evaluate(probe)
        return run.record(probe, {"val_accuracy": metrics["val_accuracy"], "train_accuracy": stats["train_accuracy"]},
                          cost_s=time.perf_counter() - start, phase="supernet", epoch=epoch + 1, lr=lr,
                          train_loss=stats["train_loss"])

    def _evolve(self, run: Any, scorer: SupernetEvaluator, save: Any, advance: Any) -> None:
        """The evolutionary search over subnets, replaying its recorded rows first (resume)."""
        evolution = GeneticAlgorithm(self.space, seed=self.seed, **self.evolution)
        if self.prior is not None:
            evolution.warm_start(*self.prior)
        done = [r for r in run.trials.rows if r.get("phase") == "evolution"]
        replay(evolution, self.space, SimpleNamespace(rows=done))
        for _ in range(len(done), self.subnets):
            if run.should_stop():
                return
            arch = evolution.ask()
            metrics = scorer.evaluate(arch)
            row = run.record(arch, {"val_accuracy": metrics["val_accuracy"]}, cost_s=metrics["cost_s"],
                             phase="evolution")
            evolution.tell(arch, row["objective"] if row["objective"] is not None else float("-inf"))
            save()
            advance(f"subnet {row['val_accuracy']:.1f}%")
