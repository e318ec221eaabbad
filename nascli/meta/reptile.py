"""Method `reptile` (MetaNAS, Elsken et al., 2020): meta-learn supernet weights and architecture
parameters together with Reptile across class-subset tasks, so that a few adaptation steps on a
new task already give a good derived architecture.

Each meta-iteration draws a `ways`-class task, adapts a copy of the supernet for `inner_steps`
first-order bilevel steps (weights by SGD on a training batch, alphas by Adam on a validation
batch), then moves the meta-parameters towards the adapted ones: theta += eps * (theta' - theta),
with eps annealed linearly to 0 as in Reptile (Nichol et al., 2018).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nascli.data.datasets import DataSplits, Split
from nascli.data.loader import BatchLoader
from nascli.errors import CheckpointError, ConfigError
from nascli.meta.base import MetaContext, MetaMethod, MetaResult
from nascli.meta.prior import FORMAT, ArchPrior
from nascli.meta.sources import SubsetTasks
from nascli.spaces.base import SearchSpace
from nascli.training.metrics import score
from nascli.weight_sharing.mixing import Gumbel, Softmax
from nascli.weight_sharing.supernet import build_supernet
from nascli.training.steps import ALL_AUTO, Limits, MicroBatch, StepRunner, resolve

STATE_FORMAT = "nascli.reptile_state/1"
MIXINGS = {"darts": Softmax, "gdas": Gumbel}  # method.mode: how the meta-learned supernet mixes its candidates


@dataclass
class ReptileMethod(MetaMethod):
    """Method `reptile` (conf/method/reptile.yaml holds the defaults)."""

    meta_iterations: int   # tasks seen
    meta_lr: float         # Reptile step size, annealed linearly to 0
    inner_steps: int       # first-order bilevel steps per task
    batch_size: int
    w_lr: float            # inner SGD on weights
    w_momentum: float
    a_lr: float            # inner Adam on alphas
    grad_clip: float
    mode: str              # supernet mixing: darts or gdas (the supernet is the search space's size)
    eval_every: int        # every this many tasks, adapted accuracy on fresh tasks
    eval_tasks: int

    def __post_init__(self) -> None:
        if min(self.meta_iterations, self.inner_steps, self.batch_size, self.eval_every, self.eval_tasks) < 1:
            raise ConfigError("method.meta_iterations, inner_steps, batch_size, eval_every and eval_tasks must be positive.")

    resumable = True

    def steps(self) -> int:
        return self.meta_iterations

    def fit(self, space: SearchSpace, tasks: Any, context: MetaContext,
            on_step: Callable[..., None]) -> MetaResult:
        """Meta-learn a supernet (weights and alphas) over class-subset tasks of the dataset."""
        from nascli import run_plots

        if not isinstance(tasks, SubsetTasks):
            raise ConfigError("method=reptile learns from class-subset tasks: use tasks=subsets "
                              "(tasks.ways=<classes per task> tasks.classes=[<class ids to draw from>]).")
        data, seed = context.data, context.seed
        sample_task, pool, ways = tasks.sampler(data), tasks.pool(data), tasks.ways
        probe = sample_task(random.Random(seed))
        torch.manual_seed(seed)
        if self.mode not in MIXINGS:
            raise ConfigError(f"method.mode must be one of {', '.join(MIXINGS)}, got {self.mode!r}.")
        net = build_supernet(space, ways, probe.in_channels, probe.input_size, MIXINGS[self.mode]())

        def on_iteration(record: dict[str, Any]) -> None:
            accuracy = record.get("adapted_accuracy")
            on_step("" if accuracy is None else f"adapted {accuracy:.1f}%",
                    {k: v for k, v in record.items() if k in ("iteration", "eps", "adapted_accuracy")})

        history = meta_train(net, sample_task, self, seed, on_iteration, context.resume, context.checkpoint)
        derived = space.to_str(net.derive())
        shape = {"mode": self.mode, "space_config": space.config(), "num_classes": ways,
                 "in_channels": probe.in_channels, "input_size": probe.input_size}
        task = {"name": f"{probe.name}: {ways} of classes {pool}", "num_classes": ways,
                "in_channels": probe.in_channels, "input_size": probe.input_size, "samples": len(probe.train),
                "extra": {}}
        meta = {
            "format": FORMAT, "method": "reptile", "search_space": space.name, "space_config": space.config(),
            "cardinalities": space.cardinalities(), "seed": seed, "config": asdict(self), "supernet": shape,
            "tasks": [task], "dataset": context.dataset_config, "derived": derived,
            "history": [{k: v for k, v in h.items() if k != "classes"} for h in history],
        }
        prior = ArchPrior(meta, gene_log_probs(space, net), None, supernet=net.state_dict())
        rows = [{"iteration": h["iteration"], "eps": h["eps"], "adapted_accuracy": h["adapted_accuracy"]}
                for h in history]
        final = rows[-1]["adapted_accuracy"] if rows else None
        return MetaResult(
            prior, f"meta-train (reptile, {space.name} supernet, {ways}-way tasks)", rows,
            ["iteration", "adapted_accuracy"],
            {"method": "reptile", "search_space": space.name, "supernet": shape, "derived": derived,
             "history": rows, "final_adapted_accuracy": final},
            lambda path: run_plots.reptile_progress(rows, Path(path), f"reptile on {task['name']}"),
            float("nan") if final is None else final, usage="nas search strategy=darts",
            notes=[f"derived cell: {derived}"])


def gene_log_probs(space: SearchSpace, net: Any) -> list[torch.Tensor]:
    """A gene prior from the meta-learned alphas: exact where genes are edges' ops (nb201),
    uniform where genes pair ops with inputs (darts: the alphas do not factor that way)."""
    weights = net.arch_weights()
    if space.name == "nb201":
        return [torch.log(row.clamp_min(1e-8)) for row in weights["cell"]]
    return [torch.full((c,), -torch.log(torch.tensor(float(c))).item()) for c in space.cardinalities()]


def batches(split: Split, data: DataSplits, batch_size: int, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """An endless stream of training batches of a split (reshuffled each pass, seeded)."""
    epoch = 0
    while True:
        yield from BatchLoader(split, data, batch_size, train=True, seed=seed + epoch)
        epoch += 1


def adapt(net: nn.Module, data: DataSplits, steps: int, cfg: ReptileMethod, seed: int) -> nn.Module:
    """`steps` first-order bilevel steps on one task: weights on its training split, alphas on its
    validation split (DARTS' first-order update, the inner loop of MetaNAS), run by the step runner."""
    runner = StepRunner(resolve(ALL_AUTO, CPU, limits=INNER_LIMITS), CPU)
    inner = InnerStep(runner, net, runner.sgd(net.weight_parameters(), cfg.w_lr, cfg.w_momentum),
                      torch.optim.Adam(net.arch_parameters(), lr=cfg.a_lr, betas=(0.5, 0.999)), cfg.grad_clip)
    train = batches(data.train, data, cfg.batch_size, seed)
    val = batches(data.val if len(data.val) else data.train, data, cfg.batch_size, seed + 7919)
    net.train()
    for _ in range(steps):
        runner.run(inner, [MicroBatch((*next(val), *next(train)))])
    return net


CPU = torch.device("cpu")  # Reptile's tasks, supernet and its copies live on the CPU
INNER_LIMITS = Limits(cuda_graphs="each task adapts a fresh copy of the supernet for a few steps",
                      compile="each task adapts a fresh copy of the supernet for a few steps",
                      accumulate="Reptile's inner loop takes one batch per step")


class InnerStep:
    """Reptile's inner step body: the alphas by Adam on a validation batch, then the weights by SGD
    (clipped) on a training batch."""

    def __init__(self, runner: StepRunner, net: nn.Module, w_opt: torch.optim.Optimizer, a_opt: torch.optim.Optimizer,
                 grad_clip: float) -> None:
        self.runner, self.net, self.w_opt, self.a_opt, self.grad_clip = runner, net, w_opt, a_opt, grad_clip
        self.weights = net.weight_parameters()

    def __call__(self, batches: list[tuple[torch.Tensor, ...]], weights: tuple[float, ...]) -> None:
        ((val_x, val_y, train_x, train_y),) = batches
        self.a_opt.zero_grad(set_to_none=True)
        with self.runner.autocast():
            loss = nn.functional.cross_entropy(self.net(val_x), val_y)
        self.runner.backward(loss)
        self.a_opt.step()
        self.w_opt.zero_grad(set_to_none=True)
        with self.runner.autocast():
            loss = nn.functional.cross_entropy(self.net(train_x), train_y)
        self.runner.backward(loss)
        self.runner.update(self.w_opt, self.weights, self.grad_clip)


def accuracy(net: nn.Module, data: DataSplits) -> float:
    """Supernet accuracy (percent) on a task's validation split."""
    net.eval()
    return score(net, BatchLoader(data.val, data, 512))[0]


class Scratch:
    """The copy of the meta-network that each task adapts: made once, then given the meta-network's
    values again before each task (a fresh deep copy of a supernet per task took a third of a second)."""

    def __init__(self, net: nn.Module) -> None:
        self.net, self.copy = net, None

    def fresh(self) -> nn.Module:
        if self.copy is None:
            self.copy = copy.deepcopy(self.net)
        else:
            self.copy.load_state_dict(self.net.state_dict())
            for p in self.copy.parameters():
                p.grad = None
        return self.copy


@torch.no_grad()
def reptile_update(meta: nn.Module, fast: nn.Module, eps: float) -> None:
    """theta += eps * (theta' - theta) for every parameter and floating buffer (BN statistics)."""
    for p_meta, p_fast in zip(meta.parameters(), fast.parameters()):
        p_meta.add_(p_fast - p_meta, alpha=eps)
    for b_meta, b_fast in zip(meta.buffers(), fast.buffers()):
        if b_meta.is_floating_point():
            b_meta.add_(b_fast - b_meta, alpha=eps)


def meta_train(
    net: nn.Module,
    sample_task: Callable[[random.Random], DataSplits],
    cfg: ReptileMethod,
    seed: int,
    on_iteration: Callable[[dict[str, Any]], None] | None = None,
    resume: dict[str, Any] | None = None,
    on_checkpoint: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Reptile over tasks from `sample_task`; returns the evaluation history (accuracy after
    `inner_steps` adaptation steps on fresh tasks, every `eval_every` iterations).

    `on_checkpoint` gets after every iteration the state (supernet, both random streams, history)
    that, passed back as `resume` with a freshly built `net`, continues to the same final supernet."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    history: list[dict[str, Any]] = []
    first = 0
    if resume is not None:
        first, history = _restore(resume, net, rng, cfg)
    scratch = Scratch(net)
    for it in range(first, cfg.meta_iterations):
        task = sample_task(rng)
        fast = adapt(scratch.fresh(), task, cfg.inner_steps, cfg, seed=rng.randrange(2**31))
        eps = cfg.meta_lr * (1.0 - it / cfg.meta_iterations)
        reptile_update(net, fast, eps)
        record: dict[str, Any] = {"iteration": it + 1, "eps": eps, "classes": getattr(task, "classes", None)}
        if (it + 1) % cfg.eval_every == 0 or it + 1 == cfg.meta_iterations:
            record["adapted_accuracy"] = evaluate(scratch, sample_task, cfg, random.Random(seed + 10_000 + it))
            history.append(record)
        if on_iteration is not None:
            on_iteration(record)
        if on_checkpoint is not None:
            on_checkpoint({"format": STATE_FORMAT, "iteration": it + 1, "supernet": net.state_dict(),
                           "rng": rng.getstate(), "torch_rng": torch.get_rng_state(), "history": history})
    return history


def _restore(state: dict[str, Any], net: nn.Module, rng: random.Random, cfg: ReptileMethod) -> tuple[int, list[dict[str, Any]]]:
    """Load a meta_train checkpoint into a fresh supernet and random stream; returns (iterations done, history)."""
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError("The meta-train checkpoint holds no reptile state (written by another method or nascli?).")
    done = int(state["iteration"])
    if done > cfg.meta_iterations:
        raise CheckpointError(f"The checkpoint is at meta-iteration {done}, beyond method.meta_iterations={cfg.meta_iterations}.")
    try:
        net.load_state_dict(state["supernet"])
        version, internal, gauss = state["rng"]
        rng.setstate((version, tuple(internal), gauss))
        torch.set_rng_state(state["torch_rng"])
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"The meta-train checkpoint does not fit this supernet ({str(exc)[:200]}).") from None
    return done, [dict(h) for h in state["history"]]


def evaluate(scratch: Scratch, sample_task: Callable[[random.Random], DataSplits], cfg: ReptileMethod,
             rng: random.Random) -> float:
    """Mean validation accuracy after adapting copies of the meta-network to `eval_tasks` fresh tasks."""
    scores = []
    for _ in range(cfg.eval_tasks):
        task = sample_task(rng)
        scores.append(accuracy(adapt(scratch.fresh(), task, cfg.inner_steps, cfg, seed=rng.randrange(2**31)), task))
    return sum(scores) / len(scores)
