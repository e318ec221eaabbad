"""Weight-sharing supernets of the cell spaces, one code path for every gradient-based and
single-path strategy.

A supernet replaces each edge of a cell by a MixedEdge that holds every candidate op, and holds
architecture parameters (`alpha_<cell>`, one row of op logits per edge, per cell type). Its
`mode` fixes how an edge combines its ops when no architecture is given:

- ``darts``: softmax-weighted sum of all ops (Liu et al., 2019); ``none`` is skipped, it adds 0.
- ``pcdarts``: the same mixture on 1/K of the channels, the rest bypassed, then a channel
  shuffle; node inputs weighted by softmax-normalised edge parameters `beta_<cell>` (Xu et al., 2020).
- ``gdas``: one op per edge sampled by hard Gumbel-softmax at temperature `tau`, with the
  straight-through gradient to alpha (Dong & Yang, 2019).
- ``single_path``: no mixture; forward needs an architecture.

Public API (what strategies use):

    net = space.build_supernet(num_classes, in_channels, input_size, mode="darts", channels=16, layers=8)
    logits = net(x)                   # the mode's mixture (darts / pcdarts / gdas)
    logits = net(x, arch=arch)        # exactly the ops of `arch` (the space's own Arch), any mode:
                                      # SPOS/ENAS train and score sampled paths this way
    net.arch_parameters(), net.weight_parameters()   # the two bilevel parameter sets
    net.arch_weights()                # {cell: softmax(alpha) (edges x ops)}, detached
    net.derive()                      # the discrete architecture (space's Arch) of the current alphas
    net.tau = 5.0; net.generator = torch.Generator().manual_seed(0)   # GDAS temperature and sampler
    net.skip_dropout = 0.1            # P-DARTS-style dropout after skip_connect ops (training only)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nascli.errors import ConfigError
from nascli.spaces.ops import Identity, OpFactory, Zero

MODES = ("darts", "pcdarts", "gdas", "single_path")


def check_mode(mode: str) -> str:
    """`mode` if it is a supernet mode, else a ValueError naming the valid ones."""
    if mode not in MODES:
        raise ValueError(f"supernet mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave `groups` channel groups (ShuffleNet), so every channel takes the op path in turn."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def gumbel_hard(logits: torch.Tensor, tau: float, generator: torch.Generator | None) -> torch.Tensor:
    """One-hot rows sampled by Gumbel-softmax at temperature `tau`, with straight-through gradients."""
    uniform = torch.rand(logits.shape, generator=generator, dtype=torch.float32).to(logits.device)
    gumbel = -torch.log(-torch.log(uniform.clamp(1e-10, 1.0 - 1e-7)))
    soft = torch.softmax((torch.log_softmax(logits, dim=-1) + gumbel) / tau, dim=-1)
    hard = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
    return hard - soft.detach() + soft


# --- edges and cells ------------------------------------------------------------------------------
@dataclass(frozen=True)
class EdgeStep:
    """What one edge does in one forward: a mixture (`weights` per op), or one op (`index`), times `scale`."""

    weights: Sequence[torch.Tensor] | None = None
    index: int | None = None
    scale: torch.Tensor | None = None


class LazyReLU:
    """relu(x), computed on first use and shared by every op that starts with a ReLU on x."""

    __slots__ = ("x", "_out")

    def __init__(self, x: torch.Tensor) -> None:
        self.x, self._out = x, None

    def value(self) -> torch.Tensor:
        if self._out is None:
            self._out = torch.relu(self.x)
        return self._out


def _leaves(module: nn.Module) -> list[nn.Module]:
    """The modules a (nested) nn.Sequential runs, in order; any other module is one leaf."""
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _leaves(child)]
    return [module]


def scaled_batch_norm(x: torch.Tensor, bn: nn.BatchNorm2d, scale: torch.Tensor | None) -> torch.Tensor:
    """bn(x) * scale in one kernel: the scale becomes BN's weight (and scales its bias), so a mixture
    weight costs no extra pass over the activation nor an extra saved tensor. Same running-stat
    updates as bn.forward (momentum set)."""
    weight, bias = (bn.weight, bn.bias) if bn.affine else (None, None)
    if scale is not None:
        # a contiguous weight: BN's channels_last backward misreads a stride-0 (expanded) one on CPU
        weight = scale.expand(x.shape[1]).contiguous() if weight is None else weight * scale
        bias = None if bias is None else bias * scale
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
    batch_stats = bn.training or bn.running_mean is None
    keep = not bn.training or bn.track_running_stats
    return nn.functional.batch_norm(x, bn.running_mean if keep else None, bn.running_var if keep else None,
                                    weight, bias, batch_stats, bn.momentum or 0.0, bn.eps)


class Candidate:
    """How an edge runs one candidate op fast: the op's leading ReLU is the edge's shared one, and
    its final BatchNorm absorbs the op's mixture weight. A plain object, so state_dict names stay."""

    __slots__ = ("pre_relu", "body", "bn", "identity")

    def __init__(self, op: nn.Module) -> None:
        leaves = _leaves(op)
        self.pre_relu = len(leaves) > 1 and type(leaves[0]) is nn.ReLU
        body = leaves[1:] if self.pre_relu else leaves
        self.bn = body[-1] if len(body) > 1 and type(body[-1]) is nn.BatchNorm2d and body[-1].momentum else None
        self.body = body[:-1] if self.bn is not None else body
        self.identity = isinstance(op, Identity)


class MixedEdge(nn.Module):
    """All candidate ops of one edge; runs a weighted mixture of them or exactly one."""

    def __init__(self, table: dict[str, OpFactory], channels: int, stride: int, partial: int = 1,
                 bn_after_pool: bool = False) -> None:
        super().__init__()
        if channels % partial:
            raise ValueError(f"partial channels K={partial} must divide the {channels} channels of an edge")
        self.names = list(table)
        self.stride, self.partial = stride, partial
        width = channels // partial
        self.ops = nn.ModuleList(self._candidate(name, table[name], width, stride, bn_after_pool)
                                 for name in self.names)
        self.candidates = [Candidate(op) for op in self.ops]
        self.active = [k for k, name in enumerate(self.names) if name != "none"]
        self.zero = Zero(channels, stride)
        self.bypass = nn.MaxPool2d(2, 2, ceil_mode=True) if partial > 1 and stride == 2 else None
        self.skip_dropout = 0.0

    @staticmethod
    def _candidate(name: str, factory: OpFactory, width: int, stride: int, bn_after_pool: bool) -> nn.Module:
        op = factory(width, width, stride, False)
        if bn_after_pool and "pool" in name:  # the DARTS search network normalises pooled outputs
            op = nn.Sequential(op, nn.BatchNorm2d(width, affine=False))
        return op

    def forward(self, x: torch.Tensor, step: EdgeStep, relu: LazyReLU | None = None) -> torch.Tensor:
        """The edge's output for `step`; `relu` may carry relu(x) shared with other edges reading x."""
        if self.partial == 1:  # the edge's scale folds into the ops' weights
            relu = relu if relu is not None else LazyReLU(x)
            if step.index is not None:
                return self._run(step.index, x, relu, step.scale)
            return self._mix(x, relu, step.weights, step.scale)
        part, rest = x[:, : x.shape[1] // self.partial], x[:, x.shape[1] // self.partial:]
        if step.index is not None:
            out = self._run(step.index, part, LazyReLU(part), None)
        else:
            out = self._mix(part, LazyReLU(part), step.weights, None)
        rest = rest if self.bypass is None else self.bypass(rest)
        out = channel_shuffle(torch.cat([out, rest], dim=1), self.partial)
        return out if step.scale is None else out * step.scale

    def _run(self, k: int, x: torch.Tensor, relu: LazyReLU, scale: torch.Tensor | None) -> torch.Tensor:
        """Op k on x, times `scale` (folded into its final BN when it has one)."""
        c = self.candidates[k]
        out = relu.value() if c.pre_relu else x
        for module in c.body:
            out = module(out)
        if c.identity and self.skip_dropout > 0.0 and self.training:
            out = nn.functional.dropout(out, self.skip_dropout)
        if c.bn is not None:
            return scaled_batch_norm(out, c.bn, scale)
        return out if scale is None else out * scale

    def _mix(self, x: torch.Tensor, relu: LazyReLU, weights: Sequence[torch.Tensor],
             scale: torch.Tensor | None) -> torch.Tensor:
        out = None
        for k in self.active:  # `none` outputs zeros: skipping it changes neither value nor gradient
            term = self._run(k, x, relu, weights[k] if scale is None else weights[k] * scale)
            out = term if out is None else out + term
        return out


class SearchCell(nn.Module):
    """`steps` nodes; node n sums its edges from every earlier state (num_inputs cell inputs first).

    Edges are numbered node by node, sources in order: the DARTS paper's order for (2 inputs,
    4 steps) and NAS-Bench-201's EDGES order for (1 input, 3 steps).
    """

    def __init__(self, num_inputs: int, steps: int, make_edge: Callable[[int], MixedEdge]) -> None:
        super().__init__()
        self.sources = [src for node in range(steps) for src in range(num_inputs + node)]
        self.edges = nn.ModuleList(make_edge(src) for src in self.sources)
        bounds = [0]
        for node in range(steps):
            bounds.append(bounds[-1] + num_inputs + node)
        self.node_edges = [range(bounds[n], bounds[n + 1]) for n in range(steps)]

    def forward(self, states: list[torch.Tensor], plan: Sequence[EdgeStep | None]) -> list[torch.Tensor]:
        """All states: the inputs, then one per node."""
        states = list(states)
        relus = [LazyReLU(s) for s in states]  # one relu per state, shared by the edges reading it
        for edges in self.node_edges:
            out = None
            for e in edges:
                if plan[e] is not None:
                    src = self.sources[e]
                    term = self.edges[e](states[src], plan[e], relus[src])
                    out = term if out is None else out + term
            states.append(out if out is not None else self.edges[edges[0]].zero(states[self.sources[edges[0]]]))
            relus.append(LazyReLU(states[-1]))
        return states


def edge_offsets(num_inputs: int, steps: int) -> list[int]:
    """Index of the first edge into each node."""
    offsets, total = [], 0
    for node in range(steps):
        offsets.append(total)
        total += num_inputs + node
    return offsets


# --- derivation -----------------------------------------------------------------------------------
def derive_darts_cell(weights: Sequence[Sequence[float]], op_names: Sequence[str], steps: int,
                      num_inputs: int = 2) -> tuple[tuple[str, int], ...]:
    """The DARTS paper's rule: per node, the 2 inputs whose strongest non-`none` op is strongest,
    each with that op; pairs ordered by strength (ties: the earlier input)."""
    none = op_names.index("none") if "none" in op_names else None
    genes: list[tuple[str, int]] = []
    for node, start in enumerate(edge_offsets(num_inputs, steps)):
        rows = [list(weights[start + src]) for src in range(num_inputs + node)]
        best = [max((w, k) for k, w in enumerate(row) if k != none) for row in rows]
        chosen = sorted(range(len(rows)), key=lambda src: -best[src][0])[:2]
        genes.extend((op_names[_argmax_excluding(rows[src], none)], src) for src in chosen)
    return tuple(genes)


def _argmax_excluding(row: Sequence[float], skip: int | None) -> int:
    """Index of the largest value (the first among equals), ignoring index `skip`."""
    return max((k for k in range(len(row)) if k != skip), key=lambda k: (row[k], -k))


def derive_argmax(weights: Sequence[Sequence[float]], op_names: Sequence[str]) -> tuple[str, ...]:
    """The strongest op of every edge, `none` included (NAS-Bench-201's rule)."""
    return tuple(op_names[_argmax_excluding(row, None)] for row in weights)


# --- the supernet base ---------------------------------------------------------------------------
class Supernet(nn.Module):
    """Architecture parameters, mixing modes and derivation; subclasses define the body.

    Subclasses set `cell_types`, `op_names`, `num_inputs`, `steps`, call `_init_arch()`, and
    implement `_body(x, plans)`, `derive()`, `arch_paths(arch)` and `cell_ops(arch)`.
    """

    cell_types: tuple[str, ...] = ()
    op_names: tuple[str, ...] = ()
    num_inputs = 1
    steps = 1

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = check_mode(mode)
        self.tau = 1.0
        self.generator: torch.Generator | None = None

    @property
    def num_edges(self) -> int:
        return sum(self.num_inputs + node for node in range(self.steps))

    def _init_arch(self) -> None:
        """alpha (and, for pcdarts, beta) per cell type: 1e-3 * N(0, 1), as the papers initialise."""
        for cell in self.cell_types:
            self.register_parameter(f"alpha_{cell}", nn.Parameter(1e-3 * torch.randn(self.num_edges, len(self.op_names))))
            if self.mode == "pcdarts":
                self.register_parameter(f"beta_{cell}", nn.Parameter(1e-3 * torch.randn(self.num_edges)))

    # --- parameter sets ------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        """alphas (and betas), the upper-level variables of the bilevel problem."""
        return [p for name, p in self.named_parameters() if _is_arch(name)]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every other parameter: the shared weights."""
        return [p for name, p in self.named_parameters() if not _is_arch(name)]

    def alpha(self, cell: str) -> torch.Tensor:
        return getattr(self, f"alpha_{cell}")

    def arch_weights(self) -> dict[str, torch.Tensor]:
        """softmax(alpha) per cell type (edges x ops), detached, on the CPU."""
        return {cell: torch.softmax(self.alpha(cell).detach().float(), dim=-1).cpu() for cell in self.cell_types}

    def edge_weights(self, cell: str) -> torch.Tensor:
        """Per-edge input weights: softmax of beta over each node's edges (pcdarts), else ones."""
        if self.mode != "pcdarts":
            return torch.ones(self.num_edges, device=self.alpha(cell).device)
        beta = getattr(self, f"beta_{cell}")
        return torch.cat([torch.softmax(beta[r.start:r.stop], dim=0) for r in self._node_ranges()])

    def derivation_weights(self) -> dict[str, list[list[float]]]:
        """The weights derivation ranks: softmax(alpha), times the edge weights for pcdarts."""
        out = {}
        for cell, w in self.arch_weights().items():
            edge = self.edge_weights(cell).detach().float().cpu()
            out[cell] = (w * edge[:, None]).tolist()
        return out

    def _node_ranges(self) -> list[range]:
        offsets = edge_offsets(self.num_inputs, self.steps) + [self.num_edges]
        return [range(offsets[n], offsets[n + 1]) for n in range(self.steps)]

    # --- forward ------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, arch: Any = None) -> torch.Tensor:
        """Logits of the mode's mixture, or of exactly the ops of `arch` when one is given."""
        if arch is not None:
            plans = {cell: [None if k is None else EdgeStep(index=k) for k in path]
                     for cell, path in self.arch_paths(arch).items()}
        elif self.mode == "single_path":
            raise ValueError("a single_path supernet runs one architecture: call supernet(x, arch=arch)")
        else:
            plans = {cell: self._plan(cell) for cell in self.cell_types}
        return self._body(x, plans)

    def _plan(self, cell: str) -> list[EdgeStep]:
        """One EdgeStep per edge for the current mode, computed once per forward for all cells."""
        alpha = self.alpha(cell)
        if self.mode == "gdas":
            if self.training:
                hard = gumbel_hard(alpha, self.tau, self.generator)
            else:  # evaluation: the derived (argmax) path, deterministic
                hard = torch.zeros_like(alpha).scatter_(-1, alpha.argmax(-1, keepdim=True), 1.0)
            index = hard.argmax(-1).tolist()
            return [EdgeStep(index=k, scale=hard[e, k]) for e, k in enumerate(index)]
        rows = [row.unbind(0) for row in torch.softmax(alpha, dim=-1).unbind(0)]
        if self.mode == "pcdarts":
            scale = self.edge_weights(cell).unbind(0)
            return [EdgeStep(weights=row, scale=s) for row, s in zip(rows, scale)]
        return [EdgeStep(weights=row) for row in rows]

    def _body(self, x: torch.Tensor, plans: dict[str, list[EdgeStep | None]]) -> torch.Tensor:
        raise NotImplementedError

    def arch_paths(self, arch: Any) -> dict[str, list[int | None]]:
        """Per cell type and edge, the op index `arch` runs there (None: the edge is unused)."""
        raise NotImplementedError

    def derive(self) -> Any:
        """The discrete architecture (the space's Arch) the current architecture parameters give."""
        raise NotImplementedError

    def cell_ops(self, arch: Any) -> dict[str, list[str]]:
        """The op names `arch` uses, per cell type (for collapse statistics)."""
        raise NotImplementedError

    # --- weight inheritance (nas retrain init=<one-shot search run>) ------------------------------
    def network_config(self) -> dict[str, Any]:
        """The space options (channels, depth) whose discrete networks match this supernet's size."""
        raise ConfigError(f"{type(self).__name__} cannot hand its weights to a discrete network "
                          "(weight inheritance exists for the nb201 and darts spaces).")

    def path_weights(self, arch: Any) -> dict[str, torch.Tensor]:
        """The weights of `arch`'s path, named as in the state_dict of the space's network for `arch`
        (built with network_config()). What the supernet does not hold (the affine scale and shift of
        its non-affine BatchNorms, an auxiliary head) is left to the network's own initialisation."""
        raise ConfigError(f"{type(self).__name__} cannot hand its weights to a discrete network "
                          "(weight inheritance exists for the nb201 and darts spaces).")

    # --- knobs strategies turn ------------------------------------------------------------------
    @property
    def skip_dropout(self) -> float:
        return next((m.skip_dropout for m in self.modules() if isinstance(m, MixedEdge)), 0.0)

    @skip_dropout.setter
    def skip_dropout(self, p: float) -> None:
        for m in self.modules():
            if isinstance(m, MixedEdge):
                m.skip_dropout = float(p)


def _is_arch(name: str) -> bool:
    return name.startswith(("alpha_", "beta_"))
