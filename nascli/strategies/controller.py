"""The LSTM controller of Zoph & Le (2017) and ENAS (Pham et al., 2018) over any gene vector.

It emits the genes token by token: at position i, a softmax over that gene's cardinality, fed the
embedding of the previous token. Shared by the `reinforce` and `enas` strategies.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nascli.spaces.base import Arch, SearchSpace


class Controller(nn.Module):
    """An LSTM policy over gene vectors with per-position heads (logits squashed as in ENAS)."""

    def __init__(self, cardinalities: Sequence[int], hidden: int = 64, temperature: float = 5.0,
                 tanh_constant: float | None = 1.10, generator: torch.Generator | None = None,
                 init_range: float = 0.1) -> None:
        super().__init__()
        self.cardinalities = list(cardinalities)
        self.temperature, self.tanh_constant = temperature, tanh_constant
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.lstm = nn.LSTMCell(hidden, hidden)
        # the input at position i > 0 embeds the token chosen at position i - 1
        self.embeddings = nn.ModuleList(nn.Embedding(c, hidden) for c in self.cardinalities[:-1])
        self.heads = nn.ModuleList(nn.Linear(hidden, c) for c in self.cardinalities)
        with torch.no_grad():  # ENAS' uniform(-0.1, 0.1) initialisation, from the given generator only
            for p in self.parameters():
                p.uniform_(-init_range, init_range, generator=generator)
        self.prior: list[torch.Tensor] | None = None  # fixed per-position log-probabilities (a meta prior)

    def set_prior(self, log_probs: Sequence[torch.Tensor]) -> None:
        """Start the policy from per-gene log-probabilities learned on earlier tasks: they are added
        to the (squashed) logits, so the untrained policy samples from the prior and REINFORCE
        learns a correction on top of it."""
        if [len(p) for p in log_probs] != self.cardinalities:
            raise ValueError("the prior's gene layout differs from the controller's")
        self.prior = [torch.as_tensor(p, dtype=torch.float32).detach() for p in log_probs]

    def _logits(self, position: int, h: torch.Tensor) -> torch.Tensor:
        logits = self.heads[position](h) / self.temperature
        logits = logits if self.tanh_constant is None else self.tanh_constant * torch.tanh(logits)
        return logits if self.prior is None else logits + self.prior[position]

    def _steps(self, batch: int, choose) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Unroll the LSTM; `choose(i, log_probs)` picks position i's tokens. Returns tokens,
        summed log-probabilities and summed entropies of the batch."""
        x = self.start.expand(batch, -1)
        state = None
        tokens, log_prob, entropy = [], torch.zeros(batch), torch.zeros(batch)
        for i in range(len(self.cardinalities)):
            state = self.lstm(x, state)
            log_probs = torch.log_softmax(self._logits(i, state[0]), dim=-1)
            token = choose(i, log_probs)
            tokens.append(token)
            log_prob = log_prob + log_probs.gather(1, token[:, None]).squeeze(1)
            entropy = entropy - (log_probs.exp() * log_probs).sum(-1)
            if i + 1 < len(self.cardinalities):
                x = self.embeddings[i](token)
        return torch.stack(tokens, dim=1), log_prob, entropy

    @torch.no_grad()
    def sample(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """`batch` gene vectors drawn from the policy, shape (batch, genes)."""
        def draw(_: int, log_probs: torch.Tensor) -> torch.Tensor:
            return torch.multinomial(log_probs.exp(), 1, generator=generator).squeeze(1)

        return self._steps(batch, draw)[0]

    def evaluate(self, genes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log-probability, entropy) of each given gene vector (batch, genes), differentiable."""
        genes = torch.as_tensor(genes, dtype=torch.long).reshape(-1, len(self.cardinalities))
        _, log_prob, entropy = self._steps(genes.shape[0], lambda i, _: genes[:, i])
        return log_prob, entropy


class Reinforce:
    """REINFORCE for a controller: moving-average baseline, entropy bonus, Adam.

    The baseline starts at the first reward (ENAS starts it at 0, which for short budgets only
    reinforces whatever is sampled first) and then decays: b <- decay * b + (1 - decay) * reward.
    """

    def __init__(self, controller: Controller, lr: float = 0.0035, baseline_decay: float = 0.99,
                 entropy_weight: float = 1e-4, optimizer: torch.optim.Optimizer | None = None) -> None:
        self.controller = controller
        # `optimizer`: one over the controller's parameters (ENAS' controller_optimizer), else Adam(lr)
        self.optimizer = optimizer or torch.optim.Adam(controller.parameters(), lr=lr)
        self.baseline_decay, self.entropy_weight = baseline_decay, entropy_weight
        self.baseline: float | None = None

    def step(self, genes: Sequence[Sequence[int]], rewards: Sequence[float]) -> float:
        """One policy-gradient step on sequences and their rewards; returns the loss."""
        for reward in rewards:
            self.baseline = reward if self.baseline is None else (
                self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward)
        advantage = torch.tensor(rewards, dtype=torch.float32) - self.baseline
        log_prob, entropy = self.controller.evaluate(torch.tensor(genes))
        loss = -(log_prob * advantage + self.entropy_weight * entropy).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def torch_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded from `seed` (never the global torch RNG)."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def propose_valid(controller: Controller, space: SearchSpace, generator: torch.Generator, seen: set[Arch],
                  batch: int, max_batches: int) -> Arch | None:
    """A valid architecture from the controller's policy (rejection sampling in batches, the first
    unseen one preferred), or None if `max_batches` batches held no valid one."""
    first_valid = None
    for _ in range(max_batches):
        for genes in controller.sample(batch, generator).tolist():
            if not space.is_valid(genes):
                continue
            arch = space.decode(genes)
            if arch not in seen:
                return arch
            first_valid = first_valid or arch
        if first_valid is not None:
            return first_valid
    return None
