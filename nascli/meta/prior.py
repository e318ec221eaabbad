"""The meta prior: what `nas meta-train` learns and `nas search meta=<dir>` starts from.

Two parts, both over the space's gene vectors: a distribution per gene (which choices good
architectures made on earlier tasks) and a task-conditioned predictor of an architecture's
standardised accuracy. Saved as prior.pt (tensors only, loaded with weights_only=True) and
prior.json (metadata people and the loader read).
"""

from __future__ import annotations

import random
from pathlib import Path
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from nascli.errors import NasError
from nascli.meta.tasks import Task
from nascli.runtime import run_state
from nascli.runtime.files import write_json
from nascli.spaces.base import Arch, SearchSpace

FORMAT = "nascli.meta-prior/1"


def one_hot(space: SearchSpace, archs: list[Arch]) -> torch.Tensor:
    """(N, sum of cardinalities) one-hot encoding of architectures' genes."""
    cards = space.cardinalities()
    offsets = torch.tensor([0, *cards[:-1]]).cumsum(0)
    genes = torch.tensor([space.encode(a) for a in archs], dtype=torch.long)
    out = torch.zeros(len(archs), sum(cards))
    out.scatter_(1, genes + offsets, 1.0)
    return out


class Predictor(nn.Module):
    """MLP: (one-hot genes, task embedding) -> standardised accuracy on that task."""

    def __init__(self, gene_dim: int, task_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(gene_dim + task_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, genes: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([genes, task.expand(len(genes), -1)], dim=1)).squeeze(1)


class ArchPrior:
    """A learned starting point for search on a new task."""

    def __init__(self, meta: dict[str, Any], gene_log_probs: list[torch.Tensor], predictor: Predictor | None,
                 supernet: dict[str, torch.Tensor] | None = None) -> None:
        self.meta = meta
        self.gene_log_probs = gene_log_probs
        self.predictor = predictor
        self.supernet = supernet  # reptile: meta-learned supernet weights and alphas (state dict)

    # --- checks -------------------------------------------------------------------------------
    def check_space(self, space: SearchSpace) -> None:
        """A prior is only usable on the space (and gene layout) it was learned on."""
        if self.meta["search_space"] != space.name or self.meta["cardinalities"] != space.cardinalities():
            raise NasError(
                f"The meta prior was learned on the {self.meta['search_space']} space, but this search uses "
                f"{space.name}{' (with another gene layout)' if self.meta['search_space'] == space.name else ''}; "
                f"meta-train on search_space={space.name} or search search_space={self.meta['search_space']}."
            )

    # --- use ----------------------------------------------------------------------------------
    def sample(self, space: SearchSpace, rng: random.Random, tries: int = 200) -> Arch | None:
        """An architecture drawn gene by gene from the prior distribution, or None when `tries`
        draws held no valid one (a space restricted to a table's few architectures)."""
        probs = [p.exp().tolist() for p in self.gene_log_probs]
        for _ in range(tries):
            genes = [rng.choices(range(len(p)), weights=p)[0] for p in probs]
            if space.is_valid(genes):
                return space.decode(genes)
        return None

    @torch.no_grad()
    def score(self, space: SearchSpace, archs: list[Arch], task: Task) -> torch.Tensor:
        """Predicted standardised accuracy of each architecture on `task` (higher is better)."""
        if self.predictor is None:
            logp = torch.stack([sum(self.gene_log_probs[i][g] for i, g in enumerate(space.encode(a))) for a in archs])
            return logp
        embedding = torch.tensor(task.embedding()).unsqueeze(0)
        return self.predictor(one_hot(space, archs), embedding)

    def propose(self, space: SearchSpace, task: Task, n: int, rng: random.Random, pool: int = 2000) -> list[Arch]:
        """The `n` best distinct architectures by predicted score among `pool` candidates drawn from
        the space and from the prior: an initial population that starts where earlier tasks ended."""
        drawn = [space.sample(rng) for _ in range(pool // 2)] + [self.sample(space, rng) for _ in range(pool // 2)]
        candidates = list(dict.fromkeys(a for a in drawn if a is not None))
        scores = self.score(space, candidates, task)
        order = torch.argsort(scores, descending=True, stable=True)[:n]
        return [candidates[i] for i in order.tolist()]

    def scorer(self, space: SearchSpace, task: Task) -> Callable[[list[Arch]], list[float]]:
        """`score` bound to a space and task, as plain floats (what a surrogate model adds to)."""
        return lambda archs: self.score(space, archs, task).tolist() if archs else []

    # --- files --------------------------------------------------------------------------------
    def save(self, run_dir: Path) -> None:
        run_state.save(run_dir / "prior.pt", {
            "format": FORMAT, "gene_log_probs": self.gene_log_probs,
            "predictor": None if self.predictor is None else self.predictor.state_dict(),
            "supernet": self.supernet,
        })
        write_json(run_dir / "prior.json", self.meta)

    @classmethod
    def load(cls, ref: str) -> ArchPrior:
        """The prior of a meta-train run directory, or a clear error."""
        run = Path(ref).expanduser()
        meta_path, weights_path = run / "prior.json", run / "prior.pt"
        if not meta_path.is_file() or not weights_path.is_file():
            raise NasError(f"meta={ref}: expected a `nas meta-train` run directory holding prior.json and prior.pt.")
        meta = run_state.load_json(meta_path, "nascli meta prior's description", FORMAT)
        weights = run_state.load(weights_path, "nascli meta prior", FORMAT)
        predictor = None
        if weights.get("predictor") is not None:
            if meta["task_dim"] != len(Task("probe", 2, 1, 8, 1).embedding()):
                raise NasError(f"meta={ref}: this prior describes tasks differently from this nascli version "
                               "(an older task embedding); run nas meta-train again.")
            predictor = Predictor(sum(meta["cardinalities"]), meta["task_dim"], meta["hidden"])
            predictor.load_state_dict(weights["predictor"])
            predictor.eval()
        return cls(meta, list(weights["gene_log_probs"]), predictor, weights.get("supernet"))
