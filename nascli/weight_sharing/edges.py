"""A supernet's mixed edges: what stands at every site of a space's outline when the space is built
as a supernet. A MixedEdge holds each candidate op as a module of its own (cell spaces); a
SharedEdge holds the one module whose weights its candidates share (elastic blocks). Both run what
their supernet's current forward plan says for their site: a mixture, one candidate, or nothing.

The plan and the per-input shared ReLU live in a ForwardState the supernet begins and ends around
each forward, so that the outline's own forward code runs unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nascli.spaces.ops import Identity, Zero
from nascli.spaces.outline import Site, SiteKey
from nascli.training.data_parallel import GlobalBatchNorm, global_batch_norm, over_processes
from nascli.weight_sharing.mixing import EdgeStep, Mixing


class LazyReLU:
    """relu(x), computed on first use and shared by every op that starts with a ReLU on x."""

    __slots__ = ("x", "_out")

    def __init__(self, x: torch.Tensor) -> None:
        self.x, self._out = x, None

    def value(self) -> torch.Tensor:
        if self._out is None:
            self._out = torch.relu(self.x)
        return self._out


class ForwardState:
    """The plan of the forward pass under way (per group, one EdgeStep or None per row) and one
    LazyReLU per cell state, so that every edge reading a state shares its ReLU. A state is a tensor
    and the position it has in its cell (`source`): a node that passes its input on unchanged (one
    skip_connect) is the same tensor as that input, yet another state, with a ReLU of its own."""

    def __init__(self) -> None:
        self.plans: dict[str, list[EdgeStep | None]] | None = None
        self._relus: dict[tuple[int, int | None], tuple[torch.Tensor, LazyReLU]] = {}
        self._joint: dict[tuple[SiteKey, ...], torch.Tensor | None] = {}

    def begin(self, plans: dict[str, list[EdgeStep | None]]) -> None:
        self.plans, self._relus, self._joint = plans, {}, {}

    def end(self) -> None:
        self.plans, self._relus, self._joint = None, {}, {}

    def joint_weights(self, keys: tuple[SiteKey, ...]) -> torch.Tensor | None:
        """The mixture weights of the sites `keys` as one (sites x candidates) tensor, each row times
        its scale; None unless every one of them mixes in this forward. Made once per forward (a
        recurrent cell asks at every time step)."""
        if keys not in self._joint:
            rows = []
            for key in keys:
                step = self.step(key)
                if step is None or step.row is None:
                    rows = None
                    break
                rows.append(step.row if step.scale is None else step.row * step.scale)
            self._joint[keys] = None if rows is None else torch.stack(rows)
        return self._joint[keys]

    def step(self, key: SiteKey) -> EdgeStep | None:
        if self.plans is None:
            raise RuntimeError("a supernet's edge runs only inside its supernet's forward")
        group, row = key
        return self.plans[group][row]

    def relu(self, x: torch.Tensor, source: int | None) -> LazyReLU:
        """The LazyReLU of this very tensor as state `source` (kept alive with it until the forward ends)."""
        key = (id(x), source)
        entry = self._relus.get(key)
        if entry is None or entry[0] is not x:
            entry = (x, LazyReLU(x))
            self._relus[key] = entry
        return entry[1]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave `groups` channel groups (ShuffleNet), so every channel takes the op path in turn."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


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
    if over_processes(bn):  # data-parallel: the statistics of the global batch
        return global_batch_norm(bn, x, weight, bias)
    batch_stats = bn.training or bn.running_mean is None
    keep = not bn.training or bn.track_running_stats
    return nn.functional.batch_norm(x, bn.running_mean if keep else None, bn.running_var if keep else None,
                                    weight, bias, batch_stats, bn.momentum or 0.0, bn.eps)


NORMS = (nn.BatchNorm2d, GlobalBatchNorm, nn.SyncBatchNorm)  # a candidate's final BatchNorm (or its global-batch twin)


class Candidate:
    """How an edge runs one candidate op fast: the op's leading ReLU is the edge's shared one, and
    its final BatchNorm absorbs the op's mixture weight. A plain object, so state_dict names stay."""

    __slots__ = ("pre_relu", "body", "bn", "identity")

    def __init__(self, op: nn.Module) -> None:
        leaves = _leaves(op)
        self.pre_relu = len(leaves) > 1 and type(leaves[0]) is nn.ReLU
        body = leaves[1:] if self.pre_relu else leaves
        self.bn = body[-1] if len(body) > 1 and type(body[-1]) in NORMS and body[-1].momentum else None
        self.body = body[:-1] if self.bn is not None else body
        self.identity = isinstance(op, Identity)


class MixedEdge(nn.Module):
    """Every candidate op of a site, each with weights of its own (affine-free, as the DARTS search
    network builds them); runs a weighted mixture of them or exactly one."""

    def __init__(self, site: Site, mixing: Mixing, state: ForwardState) -> None:
        super().__init__()
        partial = mixing.partial
        if site.c_out % partial:
            raise ValueError(f"partial channels k={partial} must divide the {site.c_out} channels of an edge")
        self.key, self.source, self.state = site.key, site.source, state
        self.stride, self.partial = site.stride, partial
        width = site.c_out // partial
        self.ops = nn.ModuleList(self._candidate(site, op, width) for op in site.ops)
        self.pools_normalized = [site.normalize_pools and "pool" in op for op in site.ops]
        self.candidates = [Candidate(op) for op in self.ops]
        self.active = [k for k, op in enumerate(self.ops) if not isinstance(op, Zero)]  # `none` adds nothing
        self.bypass = nn.MaxPool2d(2, 2, ceil_mode=True) if partial > 1 and site.stride == 2 else None
        self.skip_dropout = 0.0

    @staticmethod
    def _candidate(site: Site, op: str, width: int) -> nn.Module:
        module = site.candidate(op, width, affine=False)
        if module is None:
            raise ValueError(f"candidate {op!r} of site {site.key} builds no module: a MixedEdge needs one per op")
        if site.normalize_pools and "pool" in op:  # the DARTS search network normalises pooled outputs (see candidate)
            module = nn.Sequential(module, nn.BatchNorm2d(width, affine=False))
        return module

    def forward(self, x: torch.Tensor) -> torch.Tensor | None:
        """The edge's output for this forward's plan (None: the edge is not part of the path run)."""
        step = self.state.step(self.key)
        if step is None:
            return None
        if self.partial == 1:  # the edge's scale folds into the ops' weights
            relu = self.state.relu(x, self.source)
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

    def refresh(self) -> None:
        """Know the candidates' modules again (after sync_batchnorm replaced their BatchNorms)."""
        self.candidates = [Candidate(op) for op in self.ops]

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

    def candidate_state(self, k: int) -> dict[str, torch.Tensor]:
        """Candidate k's weights, as its own module's state_dict (without the search network's
        normalisation of pooled outputs)."""
        return (self.ops[k][0] if self.pools_normalized[k] else self.ops[k]).state_dict()


class SharedEdge(nn.Module):
    """A site whose candidates share one module's weights (the space's elastic block): runs one
    candidate on them, or their weighted mixture; candidates the site cannot take are left out."""

    def __init__(self, site: Site, mixing: Mixing, state: ForwardState) -> None:
        super().__init__()
        if mixing.partial > 1:
            raise ValueError(f"site {site.key}'s candidates share their weights: partial channels would split them")
        self.key, self.state, self.ops, self.masked = site.key, state, site.ops, site.masked
        self.allowed = [k for k, op in enumerate(site.ops) if op not in site.masked]
        self.shared = site.shared()
        self.joint = site.joint

    def candidate_state(self, k: int) -> dict[str, torch.Tensor]:
        """Candidate k's weights (its slices of the shared ones), as its own module's state_dict."""
        return self.shared.candidate_state(self.ops[k])

    def forward(self, x: torch.Tensor) -> torch.Tensor | None:
        step = self.state.step(self.key)
        if step is None:
            return None
        if step.index is not None:
            op = self.ops[step.index]
            if op in self.masked:
                raise ValueError(f"site {self.key} cannot take {op!r}, but its logit was raised from its masked "
                                 "value (a prior_strength near 0?)")
            out = self.shared.run(x, op)
            return out if step.scale is None else out * step.scale
        weights = [step.weights[k] if step.scale is None else step.weights[k] * step.scale for k in self.allowed]
        return self.shared.mixture(x, [self.ops[k] for k in self.allowed], weights)

    def together(self, edges: list[nn.Module], x: object) -> torch.Tensor | None:
        """The summed mixtures of `edges` (this one and its node's other sites) on their stacked
        inputs `x`, through the site's `joint`; None unless every one of them mixes in this forward."""
        if self.joint is None or not all(isinstance(edge, SharedEdge) for edge in edges):
            return None
        weights = self.state.joint_weights(tuple(edge.key for edge in edges))
        return None if weights is None else self.joint(x, self.ops, weights)
