"""A space's outline: its network written once, with a Site wherever an architecture picks an op.

An outline is an nn.Module class of the space (NB201Net, DartsNet, MobileNetNet) that asks a
`Maker` for the module at each Site. What it gets decides what the network is:

- `Picked(picks)` builds the op an architecture picked there: the discrete network (`build_network`);
- the mixed edges of nascli.weight_sharing make a weight-sharing supernet, whose mixing (DARTS'
  softmax, PC-DARTS' partial channels, GDAS' Gumbel sample, a single path) the strategy supplies;
- `Free()` puts a nearly free stand-in at every site: the network's skeleton, which `cost_units`
  times as one piece, beside every candidate of every site at the input it sees there.

So the network, the supernet and the cost units share one structure: the same module at the same
path in all three, the sites included (weight inheritance relies on it, nascli.weight_sharing.inherit).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

MASKED = -1.0e4  # the logit of a candidate a site cannot take: softmax weight exactly 0 in float32, never sampled
SiteKey = tuple[str, int]  # (group, row): alpha_<group>[row] of a supernet
Picks = Mapping[SiteKey, "str | None"]  # the op an architecture runs at each site (None: the site is not in it)


@dataclass(frozen=True, eq=False)
class Site:
    """Where an architecture picks one of `ops`: row `row` of group `group` (a cell type, a block slot).

    `build(op, channels, affine)` makes candidate `op` for this place, or None where the op is
    nothing to run (a skipped block); `channels` narrower than the site's serves partial-channel
    mixing. `shared`, where the space has one, makes a single module that runs every candidate on
    shared weights (`run(x, op)`, `mixture(x, ops, weights)`; once-for-all's elastic blocks).
    `joint(x, ops, weights)`, where the space has one, computes the summed mixtures of all the sites
    feeding one node at once, from their inputs stacked and their weights as one (sites x ops)
    tensor: the same value as the sites one by one, in fewer, larger kernels (the recurrent cell).
    """

    group: str
    row: int
    ops: tuple[str, ...]
    build: Callable[..., nn.Module | None]
    c_in: int
    c_out: int
    stride: int
    label: str = ""                     # how plots name the row: "2<-0" (node <- input), "b3" (block slot)
    node: int | None = None             # the cell node the edge feeds (edge normalisation sums over a node's edges)
    source: int | None = None           # the cell state the edge reads (a supernet shares one ReLU per state)
    masked: frozenset[str] = frozenset()  # candidates this site cannot take (a block that cannot be skipped)
    normalize_pools: bool = False       # a search cell normalises its pooling candidates (the DARTS search network)
    shared: Callable[[], nn.Module] | None = None
    joint: Callable[[Any, tuple[str, ...], torch.Tensor], torch.Tensor] | None = None

    @property
    def key(self) -> SiteKey:
        return (self.group, self.row)

    def candidate(self, op: str, channels: int | None = None, affine: bool = True) -> nn.Module | None:
        return self.build(op, self.c_out if channels is None else channels, affine)


class Maker(Protocol):
    """What an outline asks for the module at a site."""

    picks_one: bool  # the module runs one op (a discrete network), so evaluation-only parts (auxiliary head, drop path) belong
    affine: bool     # affine BatchNorms in the outline's own preprocessing (DARTS' search network has none)

    def __call__(self, site: Site) -> nn.Module | None: ...


@runtime_checkable
class Joint(Protocol):
    """A site module that can run together with the other sites of its node (a supernet's edge
    whose site has `joint`): `together(edges, x)` is the sum of their outputs on inputs `x` stacked,
    or None where this forward cannot take them together and they run one by one."""

    def together(self, edges: list[nn.Module], x: Any) -> torch.Tensor | None: ...


class Picked:
    """The discrete network's maker: at each site the op `picks` names, built fresh."""

    picks_one = True
    affine = True

    def __init__(self, picks: Picks) -> None:
        self.picks = picks

    def __call__(self, site: Site) -> nn.Module | None:
        op = self.picks.get(site.key)
        return None if op is None else site.candidate(op)


class Recording:
    """Wraps a maker and keeps every site it was asked for, in order, with the module it made there
    (a site of a repeated cell occurs once per cell)."""

    def __init__(self, maker: Maker) -> None:
        self.maker, self.picks_one, self.affine = maker, maker.picks_one, maker.affine
        self.made: list[tuple[Site, nn.Module | None]] = []

    def __call__(self, site: Site) -> nn.Module | None:
        module = self.maker(site)
        self.made.append((site, module))
        return module


class FreeOp(nn.Module):
    """A stand-in of almost no cost with a site's output shape: the input itself, strided, and its
    first channels (or the first one repeated) where the site changes width."""

    def __init__(self, c_out: int, stride: int) -> None:
        super().__init__()
        self.c_out, self.stride = c_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if x.shape[1] == self.c_out:
            return x
        if x.shape[1] > self.c_out:
            return x[:, : self.c_out]
        return x[:, :1].expand(-1, self.c_out, -1, -1)


class Free:
    """The skeleton's maker: a FreeOp at every site, so that the network does only its fixed work."""

    picks_one = True
    affine = True

    def __call__(self, site: Site) -> nn.Module:
        return FreeOp(site.c_out, site.stride)


def sum_terms(terms: Iterable[torch.Tensor | None]) -> torch.Tensor | None:
    """The sum of the terms that are not None, left to right, each added as it is computed (pass a
    generator: no term waits for the others); None when there are none."""
    out = None
    for term in terms:
        if term is not None:
            out = term if out is None else out + term
    return out


# --- cost by the piece (latency tables) -------------------------------------------------------------
@dataclass(frozen=True)
class CostUnit:
    """One piece of a space's networks at the input it sees, whose latency a table holds.

    `key` names it (the table's row); `choice` places an op architectures choose as (group, row, op),
    or is None for the skeleton, the work every architecture does (stem, cell sums, head, ...).
    """

    key: str
    input_shape: tuple[int, int, int]
    build: Callable[[], nn.Module]
    choice: tuple[str, int, str] | None = None


def trace(build: Callable[[Maker], nn.Module], input_shape: tuple[int, int, int]) -> list[tuple[Site, tuple[int, int, int]]]:
    """Build the skeleton and run one image through it: every site occurrence (a site of a repeated
    cell once per cell), in order, with the input shape it sees."""
    recorder = Recording(Free())
    with torch.random.fork_rng(devices=[]):  # building draws initial weights: leave the caller's stream alone
        skeleton = build(recorder)
    shapes: dict[int, tuple[int, int, int]] = {}
    def noting(i: int) -> Callable[..., None]:
        def hook(_: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            shapes.setdefault(i, tuple(args[0].shape[1:]))
        return hook

    hooks = [module.register_forward_pre_hook(noting(i)) for i, (_, module) in enumerate(recorder.made)
             if module is not None]
    try:
        with torch.no_grad():
            skeleton.eval()(torch.zeros(1, *input_shape))
    finally:
        for hook in hooks:
            hook.remove()
    return [(site, shapes[i]) for i, (site, _) in enumerate(recorder.made) if i in shapes]


def config_tag(config: Mapping[str, Any]) -> str:
    """A short stable tag of a space's options: part of the skeleton's key, so that a table built for
    other options (another activation, another width) has no entry for this one."""
    return hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:10]


def cost_units(space: str, config: Mapping[str, Any], build: Callable[[Maker], nn.Module],
               input_shape: tuple[int, int, int], num_classes: int) -> list[CostUnit]:
    """The skeleton, then every candidate of every site at the input it sees there."""
    c, h, w = input_shape
    units = [CostUnit(f"{space}/skeleton/{config_tag(config)}/{num_classes}-{c}-{h}", input_shape,
                      lambda: build(Free()))]
    for site, shape in trace(build, input_shape):
        for op in site.ops:
            if op in site.masked:
                continue
            key = f"{space}/{op}/{site.c_in}-{site.c_out}/s{site.stride}/{shape[1]}x{shape[2]}"
            units.append(CostUnit(key, shape, lambda site=site, op=op: site.candidate(op) or nn.Identity(),
                                  (site.group, site.row, op)))
    return units
