"""REINFORCE with an LSTM controller (Zoph & Le, ICLR 2017; ENAS' controller hyper-parameters).

Rewards are the objectives told back; torch randomness comes from a generator seeded by the
strategy seed, so a search replays exactly on resume.

With several workers the samples in flight are a batch drawn from one policy: once the first of
them is told, no new sample is drawn (WAIT) until the rest are, and then one REINFORCE step on the
whole batch updates the policy (ENAS' and Zoph & Le's synchronous batches of child models). The
batch is whatever was in flight, so one worker gives today's one step per sample, and N workers a
batch of N, without the strategy being told N.
"""

from __future__ import annotations

import math

from nascli.registry import STRATEGIES
from nascli.spaces.base import Arch, SearchSpace
from nascli.strategies.base import WAIT, Objective, Proposal, SampleStrategy, _Wait, scalar
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
        self.pending: list[Arch] = []                   # the batch's samples not yet told
        self.batch: list[tuple[Arch, float]] = []       # the batch's samples told, with their rewards

    def warm_start(self, prior, task) -> None:
        """The initial policy samples from the prior's gene distribution (see Controller.set_prior)."""
        self.controller.set_prior(prior.gene_log_probs)

    def propose(self) -> Proposal | _Wait:
        """A sample of the current policy; WAIT once the batch has begun to be told."""
        if self.batch:
            return WAIT
        arch = self.ask()
        self.pending.append(arch)
        return Proposal(arch)

    def ask(self) -> Arch:
        arch = propose_valid(self.controller, self.space, self.generator, self.seen, self.sample_batch,
                             self.max_batches)
        arch = self.space.sample(self.rng) if arch is None else arch
        self.seen.add(arch)
        return arch

    def tell(self, arch: Arch, objective: Objective) -> None:
        """Keep the reward; the batch's last tell makes one policy step on its finite rewards."""
        if arch in self.pending:  # a sample proposed by hand (tests) may be told without propose()
            self.pending.remove(arch)
        self.batch.append((arch, scalar(objective)))  # Pareto objectives: the accuracy; the engine keeps the front
        if self.pending:
            return
        scored = [(a, r) for a, r in self.batch if math.isfinite(r)]
        self.batch = []
        if scored:
            self.learner.step([self.space.encode(a) for a, _ in scored], [r * self.reward_scale for _, r in scored])
