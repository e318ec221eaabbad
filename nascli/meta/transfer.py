"""Method `transfer`: learn a prior from search histories of earlier tasks.

The gene distribution counts the choices of each task's top architectures (every task weighs
the same); the predictor regresses per-task standardised accuracy on (genes, task embedding),
trained on 80% of each task's rows and checked by rank correlation on the other 20%.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from nascli.errors import ConfigError, NasError
from nascli.meta.base import MetaContext, MetaMethod, MetaResult
from nascli.meta.prior import FORMAT, ArchPrior, Predictor, one_hot
from nascli.meta.sources import MeasuredTasks
from nascli.meta.tasks import History
from nascli.spaces.base import SearchSpace


@dataclass
class TransferMethod(MetaMethod):
    """Method `transfer` (conf/method/transfer.yaml holds the defaults)."""

    top_fraction: float   # share of each task's architectures counted as good for the gene prior
    smoothing: float      # Laplace smoothing of the gene counts
    hidden: int           # predictor MLP width
    epochs: int           # full-batch Adam steps
    lr: float
    weight_decay: float
    holdout: float        # share of each task's rows held out to measure the predictor's rank correlation

    def fit(self, space: SearchSpace, tasks: Any, context: MetaContext,
            on_step: Callable[..., None]) -> MetaResult:
        from nascli import run_plots

        if not isinstance(tasks, MeasuredTasks):
            raise ConfigError("method=transfer learns from measured architectures: use tasks=table "
                              "(tasks.table=<name or csv>) or tasks=runs (tasks.runs=[<search run dirs>]).")
        prior, summary = fit_transfer(space, tasks.histories(space), self, context.seed)
        meta = prior.meta
        rows = [{"task": t["name"], "rows": t["rows"], "classes": t["num_classes"],
                 "input": f"{t['in_channels']}x{t['input_size']}",
                 "heldout_spearman": summary["heldout_spearman"].get(t["name"], float("nan"))} for t in meta["tasks"]]
        scores = [r["heldout_spearman"] for r in rows if not math.isnan(r["heldout_spearman"])]
        title = f"meta-train (transfer, {meta['search_space']} space)"
        return MetaResult(
            prior, title, rows, list(rows[0]),
            {"method": "transfer", "search_space": meta["search_space"], "tasks": rows, "final_loss": summary["loss"][-1]},
            lambda path: run_plots.meta_training(summary["loss"], Path(path), f"transfer predictor on {len(rows)} task(s)"),
            sum(scores) / len(scores) if scores else float("nan"))


def gene_distribution(space: SearchSpace, histories: list[History], top_fraction: float, smoothing: float) -> list[torch.Tensor]:
    """Log-probabilities per gene of the choices made by each task's best architectures (each task
    counts as many architectures as the tasks' average top share; `smoothing` is added per choice)."""
    tops = []
    for history in histories:
        order = sorted(range(len(history.arch_strs)), key=lambda i: -history.accuracies[i])
        tops.append([history.arch_strs[i] for i in order[: max(1, int(round(len(order) * top_fraction)))]])
    weight = sum(map(len, tops)) / len(tops)  # per task, in architectures: `smoothing` is a pseudo-count
    counts = [torch.full((c,), smoothing) for c in space.cardinalities()]
    for top in tops:
        for arch_str in top:
            for gene, value in enumerate(space.encode(space.from_str(arch_str))):
                counts[gene][value] += weight / len(top)
    return [torch.log(c / c.sum()) for c in counts]


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two 1-D tensors."""
    ra = torch.argsort(torch.argsort(a)).float()
    rb = torch.argsort(torch.argsort(b)).float()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()).clamp_min(1e-12))


def _task_data(space: SearchSpace, history: History) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    archs = [space.from_str(s) for s in history.arch_strs]
    acc = torch.tensor(history.accuracies)
    z = (acc - acc.mean()) / acc.std().clamp_min(1e-6)
    return one_hot(space, archs), torch.tensor(history.task.embedding()), z


def fit_predictor(space: SearchSpace, histories: list[History], cfg: TransferMethod, seed: int) -> tuple[Predictor, dict[str, Any]]:
    """Train the predictor on every task's rows but a held-out share; report held-out Spearman."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    train_parts, held = [], []
    for history in histories:
        x, emb, z = _task_data(space, history)
        perm = torch.randperm(len(z), generator=gen)
        n_held = int(len(z) * cfg.holdout) if len(z) >= 10 else 0
        held.append((history.task.name, x[perm[:n_held]], emb, z[perm[:n_held]]))
        train_parts.append((x[perm[n_held:]], emb.expand(len(z) - n_held, -1), z[perm[n_held:]]))
    x = torch.cat([p[0] for p in train_parts])
    emb = torch.cat([p[1] for p in train_parts])
    z = torch.cat([p[2] for p in train_parts])
    predictor = Predictor(x.shape[1], emb.shape[1], cfg.hidden)
    optimizer = torch.optim.Adam(predictor.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    losses = []
    for _ in range(cfg.epochs):
        loss = torch.nn.functional.mse_loss(predictor.net(torch.cat([x, emb], dim=1)).squeeze(1), z)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    predictor.eval()
    with torch.no_grad():
        heldout = {name: spearman(predictor(hx, e.unsqueeze(0)), hz) for name, hx, e, hz in held if len(hz) > 2}
    return predictor, {"loss": losses, "heldout_spearman": heldout, "train_rows": len(z)}


def fit_transfer(space: SearchSpace, histories: list[History], cfg: TransferMethod, seed: int) -> tuple[ArchPrior, dict[str, Any]]:
    """The transfer prior of `histories` on `space`, and a summary of how it was learned."""
    if not histories:
        raise NasError("meta-train needs at least one task with measured architectures.")
    random.seed(seed)
    gene_log_probs = gene_distribution(space, histories, cfg.top_fraction, cfg.smoothing)
    predictor, summary = fit_predictor(space, histories, cfg, seed)
    meta = {
        "format": FORMAT, "method": "transfer", "search_space": space.name, "space_config": space.config(),
        "cardinalities": space.cardinalities(), "task_dim": len(histories[0].task.embedding()), "hidden": cfg.hidden,
        "tasks": [{**h.task.to_dict(), "rows": len(h.arch_strs), "source": h.source} for h in histories],
        "heldout_spearman": summary["heldout_spearman"], "config": asdict(cfg), "seed": seed,
    }
    return ArchPrior(meta, gene_log_probs, predictor), summary
