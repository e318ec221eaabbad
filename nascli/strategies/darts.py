"""Gradient-based one-shot search: DARTS (first and second order), PC-DARTS, GDAS and FairDARTS.

All three train one supernet (nascli.weight_sharing.supernet, mixed as the strategy says) with the same
bilevel loop: the training split is cut in two halves with a fixed generator (a language model's
corpus: its training and validation streams, as the reference code searches PTB); each step
updates the architecture parameters on a batch of the second half (Adam), then the weights on a
batch of the first (SGD, cosine schedule). Every epoch is one proposal: the architecture derived
then, scored by the supernet's accuracy on the whole second half.

Every random draw is reproducible: weights are initialised from `seed`, and each epoch reseeds
data order, augmentation, Gumbel noise and dropout from (seed, epoch), so a resumed search ends
exactly as an uninterrupted one on CPU.

Under torchrun the search is data-parallel: every process draws the same global batches (and the
same Gumbel noise: GDAS samples one path for all of them) and trains on its slice; the bilevel step
averages every gradient over the processes, BatchNorm normalises over the global batch
(trainer.sync_batchnorm), and an Agreement checks before every step that the processes hold the
same architecture parameters and sampler state (and their weights each epoch), so the processes
take the steps one process takes at the global batch size. The engine writes files in rank 0 only.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from nascli.data.datasets import Split
from nascli.errors import ConfigError, NasError
from nascli.registry import STRATEGIES
from nascli.runtime.run_report import markdown_table
from nascli.spaces.base import SearchSpace
from nascli.strategies.base import Artifacts, OneShotStrategy, Proposal, SearchContext, build_optimizer
from nascli.strategies.bilevel import (BILEVEL_LIMITS, CARRIED_STATE, SAMPLED_PATH, SECOND_ORDER_FP16, ArchTerm, Batch,
                                      BilevelStep)
from nascli.training import data_parallel
from nascli.training.loop import TrainConfig
from nascli.training.metrics import flat, score
from nascli.training.steps import Limits, MicroBatch, StepRunner, resolve
from nascli.training.text import carrying, is_lm, perplexity_of
from nascli.weight_sharing.batches import epoch_batches, epoch_seed, eval_batches, rounds, search_halves
from nascli.weight_sharing.mixing import Gumbel, Mixing, PartialChannels, Sigmoid, Softmax
from nascli.weight_sharing.supernet import Supernet, build_supernet


class GradientSearch(OneShotStrategy):
    """The shared bilevel loop; subclasses pick the supernet's mixing and per-epoch knobs. The weights
    train by the search's trainer (SGD, cosine schedule, speed switches), the architecture by
    `arch_optimizer` (a partial optimiser, built on the alphas at setup)."""

    data_parallel = True  # under torchrun: each process its slice of every global batch (module docstring)

    def __init__(self, space: SearchSpace, seed: int, trainer: TrainConfig, order: str,
                 arch_optimizer: dict[str, Any], warmup_epochs: int, early_stop_skip: int | None,
                 skip_dropout: float, prior_strength: float) -> None:
        super().__init__(space, seed, trainer)
        if order not in ("first", "second"):
            raise ConfigError(f"strategy.order must be first or second, got {order!r}.")
        if not 0.0 <= skip_dropout < 1.0:
            raise ConfigError(f"strategy.skip_dropout must be in [0, 1), got {skip_dropout}.")
        self.order, self.arch_optimizer = order, arch_optimizer
        self.warmup_epochs, self.early_stop_skip, self.skip_dropout = warmup_epochs, early_stop_skip, skip_dropout
        self.prior_strength = prior_strength
        self.epochs = trainer.epochs
        self.prior = None  # a meta prior to start from (see warm_start)
        self.carried = False  # a language model's hidden state carried from batch to batch (set with the data)

    def limits(self) -> Limits:
        """What this strategy's bilevel step cannot do (the step runner refuses it, with the reason)."""
        eager = SAMPLED_PATH if self.mixing().samples_on_host else CARRIED_STATE if self.carried else None
        return replace(BILEVEL_LIMITS, cuda_graphs=eager, compile=eager,
                       fp16=SECOND_ORDER_FP16 if self.order == "second" else None)

    # --- meta prior ---------------------------------------------------------------------------------
    def warm_start(self, prior: Any, task: Any) -> None:
        """Start from a meta prior: a reptile prior's meta-learned supernet (weights and alphas), or
        a transfer prior's gene distribution as initial alphas (times strategy.prior_strength)."""
        if prior.supernet is not None:
            learned = prior.meta["supernet"].get("space_config")
            ours = self.space.config()
            differ = {k: v for k, v in (learned or {}).items() if ours.get(k) != v}
            if differ:
                sizes = " ".join(f"search_space.{k}={v}" for k, v in differ.items())
                theirs = " ".join(f"search_space.{k}={ours.get(k)}" for k in differ)
                raise NasError(f"The meta-learned supernet was built with {sizes}, this search's with {theirs}: "
                               f"search with {sizes}.")
        self.prior = prior

    def _apply_prior(self, net: Supernet, data: Any) -> None:
        prior = self.prior
        if prior.supernet is None:
            with torch.no_grad():
                for cell, logits in net.gene_prior_logits(prior.gene_log_probs).items():
                    net.alpha(cell).copy_(self.prior_strength * logits)
            return
        shape = prior.meta["supernet"]
        if (shape["num_classes"], shape["in_channels"]) != (data.num_classes, data.in_channels):
            raise NasError(
                f"The meta-learned supernet classifies {shape['num_classes']} classes of {shape['in_channels']}-channel "
                f"images; this dataset has {data.num_classes} classes of {data.in_channels}-channel images. Search a "
                f"task of the same shape, e.g. dataset.classes=[...] with {shape['num_classes']} class ids.")
        try:
            net.load_state_dict(prior.supernet)
        except RuntimeError as exc:
            raise NasError(f"The meta-learned supernet does not fit strategy {type(self).__name__} "
                           f"(it was meta-trained in mode {shape['mode']}): {str(exc).splitlines()[0]}") from None

    # --- hooks for subclasses -------------------------------------------------------------------
    def mixing(self) -> Mixing:
        """How the supernet's edges combine their candidate ops (the method's own part of the supernet)."""
        return Softmax()

    def arch_terms(self) -> list[ArchTerm]:
        """Terms a method adds to the architecture loss, beside the validation loss (and a latency
        table's expected latency): none for DARTS."""
        return []

    def start_epoch(self, net: Supernet, epoch: int) -> dict[str, float]:
        """Set per-epoch knobs (temperature, dropout); returns extra trials.csv columns."""
        net.skip_dropout = self.skip_dropout * (1.0 - epoch / self.epochs)  # P-DARTS: decays to 0
        return {}

    # --- the contract ---------------------------------------------------------------------------
    def setup(self, context: SearchContext) -> None:
        """Supernet, optimisers and schedule (weights initialised from the seed alone)."""
        data, device = context.data, torch.device(context.device)
        self.data, self.device = data, device
        self.carried = is_lm(data)
        self.halves = search_halves(data, self.seed)
        if device.type == "cuda" and isinstance(data.train.images, torch.Tensor):  # held in memory (not streamed):
            # the halves live on the GPU: a step gathers its batch there, copies nothing in
            self.halves = tuple(Split(h.images.to(device), h.labels.to(device)) for h in self.halves)
        if min(len(h) for h in self.halves) < 2:
            raise ConfigError(f"{type(self).__name__} needs at least 4 training images, got {len(data.train)}.")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = build_supernet(self.space, data.num_classes, data.in_channels, data.input_size, self.mixing())
        if self.prior is not None:
            self._apply_prior(net, data)
        self.process = process = data_parallel.current()  # None: one process
        how = resolve(self.trainer, device, process.size if process else 1, limits=self.limits())
        self.runner = runner = StepRunner(how, device)
        self.net = runner.prepare(net)
        if process is not None and self.trainer.sync_batchnorm:  # statistics of the global batch
            net.normalise_over_processes(device)
        self.agreement = data_parallel.Agreement(device) if process is not None else None
        self.weights = {n: p for n, p in net.named_parameters() if not n.startswith(("alpha_", "beta_"))}
        self.w_opt = runner.optimizer(net.weight_parameters(), self.trainer)
        # a captured Adam step keeps its step count on the device (capturable)
        capturable = {"capturable": True} if runner.how.cuda_graphs else {}
        self.a_opt = build_optimizer(self.arch_optimizer, "strategy.arch_optimizer", net.arch_parameters(), **capturable)
        runner.compile_forward(net)
        self.schedule = runner.schedule(self.w_opt, self.trainer)
        self.history: dict[str, list[torch.Tensor]] = {cell: [] for cell in net.cell_types}
        self.epoch, self.collapsed = 0, False
        self.speeds: list[float] = []  # each epoch's training images per second (report.json)
        self.latency = LatencyTerm.of(net, context.latency, context.latency_loss_weight, device)
        terms = [term for term in (self.latency, *self.arch_terms()) if term is not None]
        self.body = BilevelStep(runner, net, self.weights, self.w_opt, self.a_opt, self.order, self.trainer.momentum,
                                self.trainer.weight_decay, self.trainer.grad_clip, terms,
                                data_parallel.average if process is not None else None, carry=self.carried)

    def divergence_advice(self) -> str:
        return f"Lower trainer.lr (now {self.trainer.lr:g}) or strategy.arch_optimizer.lr."

    def steps(self) -> int:
        return self.epochs

    def schedule_text(self) -> str:
        return f"{self.epochs} epoch{'s' * (self.epochs != 1)}"

    def step(self) -> Proposal | None:
        """Train one epoch; the proposal is the architecture derived after it."""
        if self.collapsed:
            self.stop_reason = "early_stop_skip"
            return None
        if self.epoch >= self.epochs:
            return None
        net, epoch = self.net, self.epoch
        # dropout's stream: each process its own (rank 0 one process's), as retrain's drop path
        torch.manual_seed(epoch_seed(self.seed, epoch, 0) + (1_000_003 * self.process.rank if self.process else 0))
        net.generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch, 1))
        knobs = self.start_epoch(net, epoch)
        stats = self.train_epoch(epoch)
        self.speeds.append(stats["images_per_s"])
        if self.agreement is not None:  # after the epoch's last step, and the weights once an epoch (checksums)
            self.agreement.add([*net.arch_parameters(), data_parallel.checksum(list(self.weights.values()))])
            self.agreement.check("architecture parameters, sampled paths or weights")
        val_acc, val_loss = self.evaluate(self.halves[1])
        arch = net.derive()
        for cell, w in net.arch_weights().items():
            self.history[cell].append(w)
        self.epoch = epoch + 1
        collapse = collapse_stats(net, arch)
        self.collapsed = self.early_stop_skip is not None and collapse["skip_count"] > self.early_stop_skip
        expected = {} if self.latency is None else {"expected_latency_ms": self.latency.expected(net).item()}
        return Proposal(arch, {"val_accuracy": val_acc, "train_accuracy": stats["train_accuracy"],
                               **perplexity_of(self.data, val_loss)},
                        {"epoch": epoch + 1, "lr": stats["lr"], "train_loss": stats["train_loss"], "val_loss": val_loss,
                         **collapse, **knobs, **expected},
                        info=f"val {val_acc:.1f}% skip {collapse['skip_share']:.2f}  {stats['images_per_s']:.0f} img/s")

    # --- one epoch ---------------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> dict[str, float]:
        """Train one epoch; returns train loss and accuracy (percent), the lr used, and the training
        images per second (the search's speed: each step also reads as many validation images)."""
        net, device = self.net, self.device
        lr = self.schedule.get_last_lr()[0]
        weights_half, arch_half = self.halves
        batch_size = self.trainer.batch_size
        loaders = [epoch_batches(weights_half, self.data, batch_size, self.seed, epoch, 2, device),
                   # round and round when shorter (a validation stream beside a training one, as the reference reads it)
                   rounds(lambda k: epoch_batches(arch_half, self.data, batch_size, self.seed + k, epoch, 3, device))]
        net.train()
        self.body.new_epoch()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        seen = 0
        began = time.perf_counter()
        for train, val in zip(*(self._batches(loader) for loader in loaders)):
            if self.process is None:
                logits = self.bilevel_step(train, val, lr, update_arch=epoch >= self.warmup_epochs)
            else:
                if min(len(train[1]), len(val[1])) < self.process.size:  # too few images for every process
                    continue
                self._check_agreement()
                (*train, share), (*val, val_share) = (data_parallel.shard(*b, self.process) for b in (train, val))
                logits = self.bilevel_step(tuple(train), tuple(val), lr, epoch >= self.warmup_epochs, share, val_share)
            logits, y = flat(logits.float(), train[1])  # per token for a language model
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(1) == y).sum()
            seen += len(y)
        if self.process is not None:  # the global batches' sums
            train_loss, train_correct, seen = data_parallel.all_sum([loss_sum, correct, seen], device)
        else:
            train_loss, train_correct = loss_sum.item(), correct.item()  # waits for the device: the epoch's true time
        seconds = time.perf_counter() - began
        self.schedule.step()
        return {"lr": lr, "train_loss": train_loss / max(seen, 1), "train_accuracy": 100.0 * train_correct / max(seen, 1),
                "images_per_s": seen / seconds if seconds > 0 else 0.0}

    def _check_agreement(self) -> None:
        """Before each data-parallel step: the architecture parameters and the path sampler's state,
        compared over the processes. A sampled path (GDAS) must be one before the step runs it (the
        processes' collectives follow it), so it is checked at once (its sampling syncs with the
        host anyway); the mixtures' values at the epoch's end, without a host sync per step."""
        self.agreement.add([*self.net.arch_parameters(), data_parallel.checksum([_state_of(self.net.generator)])])
        if self.net.mixing.samples_on_host:
            self.agreement.check("architecture parameters or path samplers (GDAS)")

    def bilevel_step(self, train: Batch, val: Batch, lr: float, update_arch: bool, share: float = 1.0,
                     val_share: float = 1.0) -> torch.Tensor:
        """One bilevel step (strategies.bilevel.BilevelStep): architecture on `val`, then weights on
        `train`; returns the train logits. Eager, compiled or replayed from a CUDA graph (captured per
        learning rate and update_arch), as the trainer's switches resolved. Data-parallel, the
        batches are this process's slices and `share`, `val_share` their losses' weights."""
        key = (lr, update_arch) if self.process is None else (lr, update_arch, val_share)
        return self.runner.run(self.body, [MicroBatch((*train, *val), share)], key=key, warm=update_arch)[0]

    def _batches(self, loader: Any) -> Iterator[Batch]:
        for x, y in loader:
            yield self.runner.inputs(x), y

    def evaluate(self, split: Any) -> tuple[float, float]:
        """(accuracy in percent, mean loss) of the supernet's current mixture on `split`; data-parallel,
        each process scores a slice of it and the sums are shared."""
        self.net.eval()

        def forward(x: torch.Tensor) -> torch.Tensor:
            with self.runner.autocast():
                return self.net(x).float()

        def scored(part: Any) -> tuple[float, float]:
            with carrying(self.net, self.carried):  # a language model reads the stream on, batch after batch
                return score(forward, self._batches(eval_batches(part, self.data, self.trainer.eval_batch_size,
                                                                 self.device)))

        if self.process is None:
            return scored(split)
        start, stop = data_parallel.bounds(len(split), self.process)
        n = stop - start
        acc, loss = scored(split.subset(torch.arange(start, stop))) if n else (0.0, 0.0)
        correct, loss_sum, seen = data_parallel.all_sum([round(acc * n / 100.0), loss * n, n], self.device)
        return (float("nan"), float("nan")) if seen == 0 else (100.0 * correct / seen, loss_sum / seen)

    # --- resume ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch, "collapsed": self.collapsed,
            "supernet": self.net.state_dict(), "w_opt": self.w_opt.state_dict(),
            "a_opt": self.a_opt.state_dict(), "schedule": self.schedule.state_dict(),
            "scaler": self.runner.scaler.state_dict() if self.runner.scaler is not None else {},
            "history": {cell: torch.stack(h) for cell, h in self.history.items() if h},
            "speeds": list(self.speeds),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["supernet"])
        self.w_opt.load_state_dict(state["w_opt"])
        self.a_opt.load_state_dict(state["a_opt"])
        self.schedule.load_state_dict(state["schedule"])
        if state.get("scaler") and self.runner.scaler is not None:
            self.runner.scaler.load_state_dict(state["scaler"])
        self.history.update({cell: list(h.unbind(0)) for cell, h in state["history"].items()})
        self.epoch, self.collapsed = int(state["epoch"]), bool(state["collapsed"])
        self.speeds = [float(v) for v in state.get("speeds", [])]  # absent in checkpoints before issue 14

    # --- files ---------------------------------------------------------------------------------------
    def artifacts(self, rows: Sequence[dict[str, Any]], final: bool) -> Artifacts:
        """alphas.json/alphas.csv (softmax(alpha) of every cell type after every epoch) each step;
        at the end, their heat maps and the per-epoch collapse statistics for report.md."""
        out = Artifacts(files=self._alpha_files())
        if not final:
            return out
        if self.speeds:  # training images per second over the search's epochs, each weighted alike
            out.results["images_per_s"] = round(sum(self.speeds) / len(self.speeds), 2)
        out.results["compile"] = self.runner.how.mode  # how the step ran: none, graphs or a torch.compile mode
        out.results["speed"] = self.runner.how.describe()
        from nascli import run_plots as plots

        name, ops = type(self).__name__, list(self.net.op_names)
        cells = [cell for cell, h in self.history.items() if h]
        if len(cells) > 2:  # a macro space's many one-row groups: one heat map of them all, one evolution plot
            out.plots.update(self._stacked_plots(cells, ops, name))
            cells = []
        for cell in cells:
            last = self.history[cell][-1].tolist()
            out.plots[f"alphas_{cell}.png"] = lambda path, last=last, cell=cell, n=len(self.history[cell]): \
                plots.alpha_heatmap(last, self.net.row_labels(cell), ops, path,
                                    f"{name}: softmax(alpha), {cell} cell, epoch {n}")
        for cell in cells:
            history = [w.tolist() for w in self.history[cell]]
            out.plots[f"alphas_{cell}_evolution.png"] = lambda path, history=history, cell=cell: \
                plots.alpha_evolution(history, ops, path, f"{name}: mean op weight per epoch, {cell} cell")
        columns = ["epoch", "val_accuracy", "train_accuracy", "skip_count", "skip_share", "none_share"]
        columns += ["tau"] if any("tau" in r for r in rows) else []
        note = ("skip_count: skip_connects in the derived first (normal) cell; skip_share: share of skip_connect "
                "among all derived ops; none_share: share of edges whose strongest op is `none`. A rising share "
                "is the known collapse of DARTS (see strategy.early_stop_skip and strategy.skip_dropout).")
        out.sections.append(("Supernet per epoch", f"{note}\n\n" + markdown_table(list(rows), columns)))
        out.sections.append(("Architecture weights", "\n\n".join(f"![{image}]({image})" for image in out.plots)))
        return out

    def _stacked_plots(self, cells: list[str], ops: list[str], name: str) -> dict[str, Any]:
        from nascli import run_plots as plots

        labels = [f"{cell}:{edge}" for cell in cells for edge in self.net.row_labels(cell)]
        last = [row for cell in cells for row in self.history[cell][-1].tolist()]
        history = [[row for cell in cells for row in self.history[cell][epoch].tolist()]
                   for epoch in range(len(self.history[cells[0]]))]
        epoch = len(history)
        return {"alphas.png": lambda path: plots.alpha_heatmap(last, labels, ops, path,
                                                               f"{name}: softmax(alpha) of every group, epoch {epoch}"),
                "alphas_evolution.png": lambda path: plots.alpha_evolution(history, ops, path,
                                                                           f"{name}: mean op weight per epoch")}

    def _alpha_files(self) -> dict[str, str | dict]:
        labels, ops = self.net.row_labels(self.net.cell_types[0]), list(self.net.op_names)
        cells = {cell: [w.tolist() for w in h] for cell, h in self.history.items()}
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["epoch", "cell", "edge", *ops])
        for cell, history in cells.items():
            for epoch, weights in enumerate(history, start=1):
                writer.writerows([epoch, cell, label, *(f"{v:.6f}" for v in row)]
                                 for label, row in zip(self.net.row_labels(cell), weights))
        return {"alphas.json": {"op_names": ops, "edges": labels, "softmax": cells}, "alphas.csv": buf.getvalue()}


def _state_of(generator: torch.Generator | None) -> torch.Tensor:
    """A random generator's state as a tensor (none: empty), for an Agreement."""
    return generator.get_state() if generator is not None else torch.zeros(0, dtype=torch.uint8)


class LatencyTerm:
    """The supernet's expected latency (FBNet, ProxylessNAS): a latency table's constant plus every
    edge's ops' latency weighted by the mixing's weights (softmax(alpha)), over every edge (all of NB201's are kept; DARTS
    keeps two per node, so there it counts more than the derived cell has, the gradient pointing
    the same way). `weight` times it (per ms) joins the architecture loss."""

    def __init__(self, constant_ms: float, matrices: dict[str, torch.Tensor], weight: float) -> None:
        self.constant_ms, self.matrices, self.weight = constant_ms, matrices, weight

    @classmethod
    def of(cls, net: Supernet, terms: Any, weight: float, device: torch.device) -> LatencyTerm | None:
        """The term for `net` from a latency table's terms (nascli.hardware.latency_table.LatencyTerms), or None."""
        if terms is None or weight <= 0:
            return None
        matrices = {cell: torch.zeros(net.num_edges, len(net.op_names)) for cell in net.cell_types}
        for (cell, row, op), ms in terms.by_choice.items():
            if cell in matrices and op in net.op_names:
                matrices[cell][row, net.op_names.index(op)] += ms
        return cls(terms.constant_ms, {cell: m.to(device) for cell, m in matrices.items()}, weight)

    def expected(self, net: Supernet) -> torch.Tensor:
        """Expected latency (ms) of the architecture the supernet's weights describe, differentiable."""
        total = torch.zeros((), device=next(iter(self.matrices.values())).device)
        for cell, matrix in self.matrices.items():
            total = total + (net.mixing.weights(net.alpha(cell)) * matrix).sum()
        return total + self.constant_ms

    def loss(self, net: Supernet) -> torch.Tensor:
        return self.weight * self.expected(net)


def collapse_stats(net: Supernet, arch: Any) -> dict[str, float]:
    """skip_count: skip_connects in the derived first cell (normal); skip_share: share of skip_connect
    among all derived ops; none_share: share of edges whose strongest op, `none` included, is `none`."""
    ops = net.cell_ops(arch)
    derived = [op for cell_ops in ops.values() for op in cell_ops]
    none = net.op_names.index("none") if "none" in net.op_names else None  # a macro space may have no `none`
    strongest = [row.argmax().item() for w in net.arch_weights().values() for row in w]
    return {"skip_count": ops[net.cell_types[0]].count("skip_connect"),
            "skip_share": derived.count("skip_connect") / max(len(derived), 1),
            "none_share": strongest.count(none) / max(len(strongest), 1)}


@STRATEGIES.register("darts")
class DARTS(GradientSearch):
    """DARTS (Liu et al., ICLR 2019): softmax mixture, first- or second-order architecture gradient."""



@STRATEGIES.register("pcdarts")
class PCDARTS(GradientSearch):
    """PC-DARTS (Xu et al., ICLR 2020): partial channel connections (1/K) and edge normalisation."""


    def __init__(self, space: SearchSpace, seed: int, partial_channels: int, **options: Any) -> None:
        super().__init__(space, seed, **options)
        if partial_channels < 1:
            raise ConfigError(f"strategy.partial_channels must be at least 1, got {partial_channels}.")
        self.partial_channels = partial_channels

    def mixing(self) -> Mixing:
        return PartialChannels(self.partial_channels)


@STRATEGIES.register("gdas")
class GDAS(GradientSearch):
    """GDAS (Dong & Yang, CVPR 2019): one op per edge by hard Gumbel-softmax, temperature annealed
    linearly from tau_max to tau_min."""


    def __init__(self, space: SearchSpace, seed: int, tau_max: float, tau_min: float, **options: Any) -> None:
        super().__init__(space, seed, **options)
        if not 0 < tau_min <= tau_max:
            raise ConfigError(f"strategy needs 0 < tau_min <= tau_max, got {tau_min} and {tau_max}.")
        self.tau_max, self.tau_min = tau_max, tau_min

    def mixing(self) -> Mixing:
        return Gumbel(self.tau_max)

    def start_epoch(self, net: Supernet, epoch: int) -> dict[str, float]:
        extra = super().start_epoch(net, epoch)
        net.tau = self.tau_max - (self.tau_max - self.tau_min) * epoch / max(self.epochs - 1, 1)
        return {**extra, "tau": net.tau}


class ZeroOneLoss:
    """FairDARTS' zero-one loss: -weight * mean((sigmoid(alpha) - 1/2)^2) over every candidate but
    `none` (no op of FairDARTS), pushing each op's weight towards 0 or 1 so that the found cell is
    what the supernet computed, not a blend."""

    def __init__(self, net: Supernet, weight: float) -> None:
        self.weight = weight
        self.columns = [k for k, op in enumerate(net.op_names) if op != "none"]

    def loss(self, net: Supernet) -> torch.Tensor:
        rows = [torch.sigmoid(net.alpha(cell))[:, self.columns] for cell in net.cell_types]
        return -self.weight * torch.cat([r.flatten() for r in rows]).sub(0.5).square().mean()


@STRATEGIES.register("fairdarts")
class FairDARTS(GradientSearch):
    """FairDARTS (Chu et al., ECCV 2020): sigmoid instead of softmax weights, so a skip_connect cannot
    win an edge by crowding its rivals' shares, and a zero-one loss that drives every weight to 0 or 1."""

    def __init__(self, space: SearchSpace, seed: int, zero_one_weight: float, **options: Any) -> None:
        super().__init__(space, seed, **options)
        if zero_one_weight < 0:
            raise ConfigError(f"strategy.zero_one_weight must be at least 0, got {zero_one_weight}.")
        self.zero_one_weight = zero_one_weight

    def mixing(self) -> Mixing:
        return Sigmoid()

    def arch_terms(self) -> list[ArchTerm]:
        return [ZeroOneLoss(self.net, self.zero_one_weight)] if self.zero_one_weight > 0 else []
