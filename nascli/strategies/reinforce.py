"""REINFORCE with an LSTM controller (Zoph & Le, ICLR 2017; ENAS' controller hyper-parameters).

Rewards are the objectives told back; torch randomness comes from a generator seeded by the
strategy seed, so a search replays exactly on resume.
"""

from __future__ import annotations

import math

from nascli.registry import STRATEGIES
from nascli.spaces.base import Arch, SearchSpace
from nascli.strategies.base import Objective, SampleStrategy, scalar
from nascli.strategies.controller import Controller, Reinforce, propose_valid, torch_generator


@STRATEGIES.register("reinforce")
class ReinforceSearch(SampleStrategy):
    """Sample from the controller; each told objective (times `reward_scale`) is one REINFORCE step.

    Invalid sequences (a constrained space or a table subset) are rejected and redrawn, i.e. the
    policy is sampled conditioned on validity. Non-finite objectives (failed candidates) are skipped.
    """

    def __init__(self, space: SearchSpace, seed: int, hidden: int, lr: float, baseline_decay: float,
                 entropy_weight: float, temperature: float, tanh_constant: float | None, reward_scale: float,
                 sample_batch: int, max_batches: int) -> None:
        super().__init__(space, seed)
        self.generator = torch_generator(seed)
        self.controller = Controller(space.cardinalities(), hidden, temperature, tanh_constant, self.generator)
        self.learner = Reinforce(self.controller, lr, baseline_decay, entropy_weight)
        self.reward_scale, self.sample_batch, self.max_batches = reward_scale, sample_batch, max_batches

    def warm_start(self, prior, task) -> None:
        """The initial policy samples from the prior's gene distribution (see Controller.set_prior)."""
        self.controller.set_prior(prior.gene_log_probs)

    def ask(self) -> Arch:
        arch = propose_valid(self.controller, self.space, self.generator, self.seen, self.sample_batch,
                             self.max_batches)
        arch = self.space.sample(self.rng) if arch is None else arch
        self.seen.add(arch)
        return arch

    def tell(self, arch: Arch, objective: Objective) -> None:
        reward = scalar(objective)  # Pareto objectives: the accuracy; the engine keeps the front
        if math.isfinite(reward):
            self.learner.step([self.space.encode(arch)], [reward * self.reward_scale])
