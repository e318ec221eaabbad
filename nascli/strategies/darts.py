"""Gradient-based one-shot search: DARTS (first and second order), PC-DARTS and GDAS.

All three train one supernet (nascli.spaces.supernet, in the strategy's mode) with the same
bilevel loop: the training split is cut in two halves with a fixed generator; each step updates
the architecture parameters on a batch of the second half (Adam), then the weights on a batch of
the first (SGD, cosine schedule). Every epoch is one trials.csv row for the architecture derived
then, scored by the supernet's accuracy on the whole second half, and one resume checkpoint.

Every random draw is reproducible: weights are initialised from `seed`, and each epoch reseeds
data order, augmentation, Gumbel noise and dropout from (seed, epoch), so a resumed search ends
exactly as an uninterrupted one on CPU.
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from nascli.data.datasets import DataSplits, Split
from nascli.data.loader import BatchLoader
from nascli.errors import ConfigError, NasError
from nascli.runtime.files import write_json, write_text
from nascli.spaces.base import SearchSpace
from nascli.spaces.supernet import Supernet
from nascli.strategies.base import OneShotStrategy

Batch = tuple[torch.Tensor, torch.Tensor]


def epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A seed for one random stream of one epoch (0: torch global, 1: Gumbel, 2/3: data halves)."""
    return ((seed * 1_000_003 + epoch) * 8 + stream) % (2**62)


def split_halves(split: Split, seed: int) -> tuple[Split, Split]:
    """The training split cut in two random halves (weights / architecture), fixed by `seed`."""
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    half = len(split) // 2
    return split.subset(order[:half].sort().values), split.subset(order[half:].sort().values)


# --- the bilevel step ------------------------------------------------------------------------------
def _loss(model: nn.Module, batch: Batch, params: dict[str, torch.Tensor] | None = None,
          buffers: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Cross-entropy of `model` on `batch`, optionally with other weights (and scratch BN buffers)."""
    x, y = batch
    logits = model(x) if params is None else functional_call(model, {**params, **(buffers or {})}, (x,))
    return nn.functional.cross_entropy(logits.float(), y)


def unrolled_arch_grads(
    model: nn.Module, weights: dict[str, nn.Parameter], arch: Sequence[nn.Parameter], train: Batch, val: Batch,
    lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
    momentum_buffers: dict[str, torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """DARTS' second-order architecture gradient (Liu et al., 2019, eq. 7-8).

    grad_a L_val(w', a) - lr * (grad_a L_train(w+, a) - grad_a L_train(w-, a)) / (2 eps), where
    w' = w - lr * (momentum * buf + grad_w L_train(w, a) + wd * w) is one virtual SGD step,
    w+- = w +- eps * grad_w' L_val(w', a) and eps = 0.01 / ||grad_w' L_val(w', a)||.
    Forward passes on other weights use scratch copies of the BN buffers, as the paper's copy does.
    """
    names, ws = list(weights), list(weights.values())
    named_buffers = dict(model.named_buffers())
    scratch = lambda: {n: b.clone() for n, b in named_buffers.items()}  # noqa: E731
    grads = torch.autograd.grad(_loss(model, train, dict(zip(names, ws)), scratch()), ws)
    unrolled = {}
    for name, w, g in zip(names, ws, grads):
        step = g + weight_decay * w.detach()
        if momentum_buffers is not None and name in momentum_buffers:
            step = step + momentum * momentum_buffers[name]
        unrolled[name] = (w.detach() - lr * step).requires_grad_()
    val_loss = _loss(model, val, unrolled, scratch())
    found = torch.autograd.grad(val_loss, [*arch, *unrolled.values()])
    d_arch, d_w = found[: len(arch)], found[len(arch):]
    eps = 0.01 / torch.sqrt(sum((v.float() ** 2).sum() for v in d_w)).clamp_min(1e-12)
    hvp = []
    for sign in (1.0, -1.0):
        shifted = {n: w.detach() + sign * eps * v for n, w, v in zip(names, ws, d_w)}
        hvp.append(torch.autograd.grad(_loss(model, train, shifted, scratch()), arch))
    return [da - lr * (gp - gn) / (2 * eps) for da, gp, gn in zip(d_arch, *hvp)]


# --- the strategies -------------------------------------------------------------------------------
class GradientSearch(OneShotStrategy):
    """The shared bilevel loop; subclasses pick the supernet mode and per-epoch knobs."""

    mode = "darts"

    def __init__(
        self, space: SearchSpace, seed: int = 0, order: str = "first", epochs: int = 50, batch_size: int = 64,
        channels: int = 16, layers: int = 8, lr: float = 0.025, lr_min: float = 0.001, momentum: float = 0.9,
        nesterov: bool = False, weight_decay: float = 3e-4, grad_clip: float = 5.0, arch_lr: float = 3e-4,
        arch_betas: Sequence[float] = (0.5, 0.999), arch_weight_decay: float = 1e-3, warmup_epochs: int = 0,
        early_stop_skip: int | None = None, skip_dropout: float = 0.0, eval_batch_size: int = 256,
        amp: str | None = None, channels_last: bool = False, prior_strength: float = 1.0,
    ) -> None:
        super().__init__(space, seed)
        if order not in ("first", "second"):
            raise ConfigError(f"strategy.order must be first or second, got {order!r}.")
        if amp not in (None, "bf16", "fp16"):
            raise ConfigError(f"strategy.amp must be null, bf16 or fp16, got {amp!r}.")
        if amp == "fp16" and order == "second":
            raise ConfigError("strategy.amp=fp16 needs loss scaling, which the second-order step does not do; use bf16.")
        if min(epochs, batch_size, channels, layers, eval_batch_size) < 1:
            raise ConfigError("strategy.epochs, batch_size, channels, layers and eval_batch_size must be positive.")
        if not 0.0 <= skip_dropout < 1.0:
            raise ConfigError(f"strategy.skip_dropout must be in [0, 1), got {skip_dropout}.")
        self.order, self.epochs, self.batch_size = order, int(epochs), int(batch_size)
        self.channels, self.layers = int(channels), int(layers)
        self.lr, self.lr_min, self.momentum, self.nesterov = lr, lr_min, momentum, nesterov
        self.weight_decay, self.grad_clip = weight_decay, grad_clip
        self.arch_lr, self.arch_betas, self.arch_weight_decay = arch_lr, tuple(arch_betas), arch_weight_decay
        self.warmup_epochs, self.early_stop_skip, self.skip_dropout = int(warmup_epochs), early_stop_skip, skip_dropout
        self.eval_batch_size, self.amp, self.channels_last = int(eval_batch_size), amp, channels_last
        self.prior_strength = float(prior_strength)
        self.prior = None  # a meta prior to start from (see warm_start)

    # --- meta prior ---------------------------------------------------------------------------------
    def warm_start(self, prior, task) -> None:
        """Start from a meta prior: a reptile prior's meta-learned supernet (weights and alphas), or
        a transfer prior's gene distribution as initial alphas (times strategy.prior_strength)."""
        if prior.supernet is not None:
            shape = prior.meta["supernet"]
            if (shape["channels"], shape["layers"]) != (self.channels, self.layers):
                raise NasError(
                    f"The meta-learned supernet has channels={shape['channels']} and layers={shape['layers']}, "
                    f"this search strategy.channels={self.channels} and strategy.layers={self.layers}: "
                    f"search with strategy.channels={shape['channels']} strategy.layers={shape['layers']}.")
        self.prior = prior

    def _apply_prior(self, net: Supernet, data: DataSplits) -> None:
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
    def supernet_options(self) -> dict[str, Any]:
        """Extra keyword arguments of space.build_supernet."""
        return {}

    def start_epoch(self, net: Supernet, epoch: int) -> dict[str, float]:
        """Set per-epoch knobs (temperature, dropout); returns extra trials.csv columns."""
        net.skip_dropout = self.skip_dropout * (1.0 - epoch / self.epochs)  # P-DARTS: decays to 0
        return {}

    # --- building ---------------------------------------------------------------------------------
    def build(self, data: DataSplits, device: torch.device) -> dict[str, Any]:
        """Supernet, optimisers and schedule (weights initialised from the seed alone)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = self.space.build_supernet(data.num_classes, data.in_channels, data.input_size, mode=self.mode,
                                            channels=self.channels, layers=self.layers, **self.supernet_options())
        if self.prior is not None:
            self._apply_prior(net, data)
        net = net.to(device, memory_format=torch.channels_last if self._channels_last(device) else torch.preserve_format)
        w_opt = torch.optim.SGD(net.weight_parameters(), lr=self.lr, momentum=self.momentum,
                                weight_decay=self.weight_decay, nesterov=self.nesterov and self.momentum > 0)
        a_opt = torch.optim.Adam(net.arch_parameters(), lr=self.arch_lr, betas=self.arch_betas,
                                 weight_decay=self.arch_weight_decay)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=self.epochs, eta_min=self.lr_min)
        scaler = torch.amp.GradScaler(device.type, enabled=self.amp == "fp16")
        weights = {n: p for n, p in net.named_parameters() if not n.startswith(("alpha_", "beta_"))}
        return {"net": net, "weights": weights, "arch": net.arch_parameters(), "w_opt": w_opt, "a_opt": a_opt,
                "schedule": schedule, "scaler": scaler,
                "history": {cell: [] for cell in net.cell_types}, "epoch": 0, "device": device}

    def _channels_last(self, device: torch.device) -> bool:
        return bool(self.channels_last)

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """Mixed precision for forward passes (strategy.amp), or nothing."""
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=torch.bfloat16 if self.amp == "bf16" else torch.float16)

    # --- one step ---------------------------------------------------------------------------------
    def step(self, parts: dict[str, Any], train: Batch, val: Batch, lr: float, update_arch: bool) -> torch.Tensor:
        """One bilevel step: architecture on `val`, then weights on `train`; returns the train logits."""
        net, device = parts["net"], parts["device"]
        if update_arch:
            self._arch_step(parts, train, val, lr)
        with self.autocast(device):
            logits = net(train[0])
            loss = nn.functional.cross_entropy(logits.float(), train[1])
        parts["w_opt"].zero_grad(set_to_none=True)
        scaler, weights = parts["scaler"], list(parts["weights"].values())
        scaler.scale(loss).backward(inputs=weights)  # no architecture gradient here: it is not used
        scaler.unscale_(parts["w_opt"])
        if self.grad_clip > 0:
            nn.utils.clip_grad_norm_(weights, self.grad_clip)
        scaler.step(parts["w_opt"])
        scaler.update()
        return logits.detach()

    def _arch_step(self, parts: dict[str, Any], train: Batch, val: Batch, lr: float) -> None:
        net, a_opt, arch, weights = parts["net"], parts["a_opt"], parts["arch"], parts["weights"]
        a_opt.zero_grad(set_to_none=True)
        with self.autocast(parts["device"]):
            if self.order == "second":
                buffers = self._momentum_buffers(parts["w_opt"], weights)
                grads = unrolled_arch_grads(net, weights, arch, train, val, lr, self.momentum,
                                            self.weight_decay, buffers)
                for p, g in zip(arch, grads):
                    p.grad = g.to(p.dtype)
            else:
                parts["scaler"].scale(_loss(net, val)).backward(inputs=arch)
        if self.order != "second" and self.amp == "fp16":
            parts["scaler"].unscale_(a_opt)
            parts["scaler"].step(a_opt)
        else:
            a_opt.step()

    @staticmethod
    def _momentum_buffers(optimizer: torch.optim.Optimizer, weights: dict[str, nn.Parameter]) -> dict[str, torch.Tensor]:
        out = {}
        for name, p in weights.items():
            buf = optimizer.state.get(p, {}).get("momentum_buffer")
            if buf is not None:
                out[name] = buf
        return out

    # --- one epoch ---------------------------------------------------------------------------------
    def train_epoch(self, parts: dict[str, Any], halves: tuple[Split, Split], data: DataSplits,
                    epoch: int) -> dict[str, float]:
        """Train one epoch; returns train loss and accuracy (percent) and the lr used."""
        net, device = parts["net"], parts["device"]
        lr = parts["schedule"].get_last_lr()[0]
        loaders = [BatchLoader(h, data, self.batch_size, train=True, seed=epoch_seed(self.seed, epoch, 2 + i),
                               device=device, drop_last=len(h) > self.batch_size) for i, h in enumerate(halves)]
        net.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        seen = 0
        for train, val in zip(*(self._batches(loader, device) for loader in loaders)):
            logits = self.step(parts, train, val, lr, update_arch=epoch >= self.warmup_epochs)
            loss_sum += nn.functional.cross_entropy(logits.float(), train[1], reduction="sum")
            correct += (logits.argmax(1) == train[1]).sum()
            seen += len(train[1])
        parts["schedule"].step()
        seen = max(seen, 1)
        return {"lr": lr, "train_loss": loss_sum.item() / seen, "train_accuracy": 100.0 * correct.item() / seen}

    def _batches(self, loader: BatchLoader, device: torch.device) -> Iterator[Batch]:
        for x, y in loader:
            yield (x.contiguous(memory_format=torch.channels_last) if self._channels_last(device) else x), y

    @torch.no_grad()
    def evaluate(self, parts: dict[str, Any], split: Split, data: DataSplits) -> tuple[float, float]:
        """(accuracy in percent, mean loss) of the supernet's current mixture on `split`."""
        net, device = parts["net"], parts["device"]
        net.eval()
        correct, loss_sum = 0, 0.0
        for x, y in self._batches(BatchLoader(split, data, self.eval_batch_size, device=device), device):
            with self.autocast(device):
                logits = net(x).float()
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            correct += int((logits.argmax(1) == y).sum())
        n = max(len(split), 1)
        return 100.0 * correct / n, loss_sum / n

    # --- the search --------------------------------------------------------------------------------
    def search(self, run: Any) -> None:
        """Train the supernet epoch by epoch until the schedule, the budget or a collapse stop ends it."""
        data, device = run.data, run.device
        halves = split_halves(data.train, self.seed)
        if min(len(h) for h in halves) < 2:
            raise ConfigError(f"{type(self).__name__} needs at least 4 training images, got {len(data.train)}.")
        parts = self.build(data, device)
        self._restore(parts, run.load_state(), device)
        total = self.epochs if run.budget.trials is None else min(self.epochs, run.budget.trials)
        stopped = parts.get("collapsed", False)
        with run.progress(total, type(self).__name__) as advance:
            while parts["epoch"] < self.epochs and not stopped and not run.should_stop():
                row = self._run_epoch(parts, halves, data, run)
                stopped = self._collapsed(row)
                parts["collapsed"] = stopped
                run.save_state(self._state(parts))
                advance(f"val {row['val_accuracy']:.1f}% skip {row['skip_share']:.2f}")
        if stopped:
            run.console.print(f"Stopped early: the derived cell has more than {self.early_stop_skip} "
                              "skip connections (strategy.early_stop_skip).")
        if run.trials.rows:
            run.choose(run.trials.rows[-1])
            self._plots(parts, run)
            self._report(parts, run)

    def _run_epoch(self, parts: dict[str, Any], halves: tuple[Split, Split], data: DataSplits, run: Any) -> dict[str, Any]:
        net, epoch = parts["net"], parts["epoch"]
        torch.manual_seed(epoch_seed(self.seed, epoch, 0))
        net.generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch, 1))
        knobs = self.start_epoch(net, epoch)
        start = time.perf_counter()
        stats = self.train_epoch(parts, halves, data, epoch)
        val_acc, val_loss = self.evaluate(parts, halves[1], data)
        cost = time.perf_counter() - start
        arch = net.derive()
        for cell, w in net.arch_weights().items():
            parts["history"][cell].append(w)
        parts["epoch"] = epoch + 1
        self._write_alphas(parts, run)
        return run.record(arch, {"val_accuracy": val_acc, "train_accuracy": stats["train_accuracy"]}, cost_s=cost,
                          epoch=epoch + 1, lr=stats["lr"], train_loss=stats["train_loss"], val_loss=val_loss,
                          **collapse_stats(net, arch), **knobs)

    def _collapsed(self, row: dict[str, Any]) -> bool:
        return self.early_stop_skip is not None and row["skip_count"] > self.early_stop_skip

    # --- resume ------------------------------------------------------------------------------------
    @staticmethod
    def _state(parts: dict[str, Any]) -> dict[str, Any]:
        """Everything a resumed search needs, as tensors and plain containers (weights_only loads)."""
        return {
            "epoch": parts["epoch"], "collapsed": parts.get("collapsed", False),
            "supernet": parts["net"].state_dict(), "w_opt": parts["w_opt"].state_dict(),
            "a_opt": parts["a_opt"].state_dict(), "schedule": parts["schedule"].state_dict(),
            "scaler": parts["scaler"].state_dict(),
            "history": {cell: torch.stack(h) for cell, h in parts["history"].items() if h},
        }

    @staticmethod
    def _restore(parts: dict[str, Any], state: dict[str, Any] | None, device: torch.device) -> None:
        if state is None:
            return
        parts["net"].load_state_dict(state["supernet"])
        parts["w_opt"].load_state_dict(state["w_opt"])
        parts["a_opt"].load_state_dict(state["a_opt"])
        parts["schedule"].load_state_dict(state["schedule"])
        if state.get("scaler"):
            parts["scaler"].load_state_dict(state["scaler"])
        parts["history"].update({cell: list(h.unbind(0)) for cell, h in state["history"].items()})
        parts["epoch"], parts["collapsed"] = int(state["epoch"]), bool(state["collapsed"])

    # --- files ---------------------------------------------------------------------------------------
    def _write_alphas(self, parts: dict[str, Any], run: Any) -> None:
        """alphas.json and alphas.csv: softmax(alpha) of every cell type after every epoch so far."""
        net = parts["net"]
        labels = edge_labels(net)
        cells = {cell: [w.tolist() for w in h] for cell, h in parts["history"].items()}
        write_json(run.run_dir / "alphas.json", {"op_names": list(net.op_names), "edges": labels, "softmax": cells})
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["epoch", "cell", "edge", *net.op_names])
        for cell, history in cells.items():
            for epoch, weights in enumerate(history, start=1):
                writer.writerows([epoch, cell, label, *(f"{v:.6f}" for v in row)] for label, row in zip(labels, weights))
        write_text(run.run_dir / "alphas.csv", buf.getvalue())

    def _report(self, parts: dict[str, Any], run: Any) -> None:
        """Per-epoch accuracy and collapse statistics, and the heat maps, for report.md."""
        from nascli.runtime.report import markdown_table

        columns = ["epoch", "val_accuracy", "train_accuracy", "skip_count", "skip_share", "none_share"]
        columns += ["tau"] if any("tau" in r for r in run.trials.rows) else []
        note = ("skip_count: skip_connects in the derived first (normal) cell; skip_share: share of skip_connect "
                "among all derived ops; none_share: share of edges whose strongest op is `none`. A rising share "
                "is the known collapse of DARTS (see strategy.early_stop_skip and strategy.skip_dropout).")
        run.report_sections.append(("Supernet per epoch", f"{note}\n\n" + markdown_table(run.trials.rows, columns)))
        images = [f"alphas_{cell}.png" for cell, h in parts["history"].items() if h]
        images += [f"alphas_{cell}_evolution.png" for cell, h in parts["history"].items() if h]
        run.report_sections.append(("Architecture weights", "\n\n".join(f"![{name}]({name})" for name in images)))
        run.report_files.extend(["alphas.json", "alphas.csv", *images, "checkpoint.pt"])

    def _plots(self, parts: dict[str, Any], run: Any) -> None:
        from nascli import plots

        net = parts["net"]
        for cell, history in parts["history"].items():
            if not history:
                continue
            name, ops = type(self).__name__, list(net.op_names)
            plots.alpha_heatmap(history[-1].tolist(), edge_labels(net), ops, run.run_dir / f"alphas_{cell}.png",
                                f"{name}: softmax(alpha), {cell} cell, epoch {len(history)}")
            plots.alpha_evolution([w.tolist() for w in history], ops, run.run_dir / f"alphas_{cell}_evolution.png",
                                  f"{name}: mean op weight per epoch, {cell} cell")


def edge_labels(net: Supernet) -> list[str]:
    """'node<-source' for every edge (node and state numbers as in the space's genotype)."""
    first_node = net.num_inputs
    return [f"{first_node + node}<-{src}" for node in range(net.steps) for src in range(net.num_inputs + node)]


def collapse_stats(net: Supernet, arch: Any) -> dict[str, float]:
    """skip_count: skip_connects in the derived first cell (normal); skip_share: share of skip_connect
    among all derived ops; none_share: share of edges whose strongest op, `none` included, is `none`."""
    ops = net.cell_ops(arch)
    derived = [op for cell_ops in ops.values() for op in cell_ops]
    none = net.op_names.index("none")
    strongest = [row.argmax().item() for w in net.arch_weights().values() for row in w]
    return {"skip_count": ops[net.cell_types[0]].count("skip_connect"),
            "skip_share": derived.count("skip_connect") / max(len(derived), 1),
            "none_share": strongest.count(none) / max(len(strongest), 1)}


class DARTS(GradientSearch):
    """DARTS (Liu et al., ICLR 2019): softmax mixture, first- or second-order architecture gradient."""

    mode = "darts"


class PCDARTS(GradientSearch):
    """PC-DARTS (Xu et al., ICLR 2020): partial channel connections (1/K) and edge normalisation."""

    mode = "pcdarts"

    def __init__(self, space: SearchSpace, seed: int = 0, partial_channels: int = 4, **kwargs: Any) -> None:
        super().__init__(space, seed, **kwargs)
        if int(partial_channels) < 1:
            raise ConfigError(f"strategy.partial_channels must be at least 1, got {partial_channels}.")
        self.partial_channels = int(partial_channels)

    def supernet_options(self) -> dict[str, Any]:
        return {"partial_channels": self.partial_channels}


class GDAS(GradientSearch):
    """GDAS (Dong & Yang, CVPR 2019): one op per edge by hard Gumbel-softmax, temperature annealed
    linearly from tau_max to tau_min."""

    mode = "gdas"

    def __init__(self, space: SearchSpace, seed: int = 0, tau_max: float = 10.0, tau_min: float = 0.1,
                 **kwargs: Any) -> None:
        super().__init__(space, seed, **kwargs)
        if not 0 < tau_min <= tau_max:
            raise ConfigError(f"strategy needs 0 < tau_min <= tau_max, got {tau_min} and {tau_max}.")
        self.tau_max, self.tau_min = tau_max, tau_min

    def start_epoch(self, net: Supernet, epoch: int) -> dict[str, float]:
        extra = super().start_epoch(net, epoch)
        net.tau = self.tau_max - (self.tau_max - self.tau_min) * epoch / max(self.epochs - 1, 1)
        return {**extra, "tau": net.tau}


__all__ = ["DARTS", "GDAS", "PCDARTS", "GradientSearch", "unrolled_arch_grads", "split_halves", "epoch_seed",
           "collapse_stats", "edge_labels"]
