"""Weight-sharing supernets: a space's outline built with mixed edges, plus architecture parameters.

    net = build_supernet(space, num_classes, in_channels, input_size, Softmax())  # or PartialChannels(4), Gumbel(), SinglePath()
    logits = net(x)                   # the mixing's mixture (softmax / partial channels / Gumbel sample)
    logits = net(x, arch=arch)        # exactly the ops of `arch` (the space's own Arch), any mixing:
                                      # SPOS/ENAS train and score sampled paths this way
    net.arch_parameters(), net.weight_parameters()   # the two bilevel parameter sets
    net.arch_weights()                # {group: softmax(alpha) (rows x ops)}, detached
    net.derive()                      # the discrete architecture (space's Arch) of the current alphas
    net.tau = 5.0; net.generator = torch.Generator().manual_seed(0)   # a sampling mixing's temperature and stream
    net.skip_dropout = 0.1            # P-DARTS-style dropout after skip_connect ops (training only)

The supernet's `network` is the space's own outline module (nascli.spaces.outline), so it has the
discrete network's structure: the same module at the same path, a mixed edge where the network has
its picked op (weight inheritance relies on it: nascli.weight_sharing.inherit).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nascli.errors import ConfigError
from nascli.spaces.base import Arch, SearchSpace
from nascli.spaces.outline import MASKED, Site
from nascli.training import data_parallel
from nascli.weight_sharing.edges import ForwardState, MixedEdge, SharedEdge
from nascli.weight_sharing.mixing import EdgeStep, Mixing


class MixedEdges:
    """The maker of a supernet's sites: a SharedEdge where the site's candidates share weights, else
    a MixedEdge; it remembers every site it made, in the order the outline met them."""

    picks_one = False
    affine = False  # the DARTS search network's own preprocessing is affine-free too

    def __init__(self, mixing: Mixing, state: ForwardState) -> None:
        self.mixing, self.state = mixing, state
        self.made: list[tuple[Site, nn.Module]] = []  # every site occurrence (once per cell), in order

    def __call__(self, site: Site) -> nn.Module:
        edge = (SharedEdge if site.shared is not None else MixedEdge)(site, self.mixing, self.state)
        self.made.append((site, edge))
        return edge

    @property
    def sites(self) -> list[Site]:
        return [site for site, _ in self.made]


def build_supernet(space: SearchSpace, num_classes: int, in_channels: int, input_size: int,
                   mixing: Mixing) -> Supernet:
    """The supernet of `space` at its own size, its candidates combined as `mixing` says; weights
    drawn from torch's global generator (seed it first for reproducible weights)."""
    if space.hparam_choices():
        raise ConfigError("search_space.hparams are searched by training each candidate: a one-shot strategy's "
                          "supernet cannot search them. Use a sample-based strategy (random, evolution, bo, sh, ...).")
    state = ForwardState()
    maker = MixedEdges(mixing, state)
    try:
        network = space.outline(maker, num_classes, in_channels, input_size)
    except ValueError as exc:  # a mixing the space's sites cannot take (partial channels that do not divide, ...)
        raise ConfigError(f"The {space.name} space cannot be built as a {mixing.describe()} supernet: {exc}.") from None
    if not maker.sites:
        raise ConfigError(f"The {space.name} space's outline has no sites: there is nothing for a supernet to search.")
    return Supernet(space, network, maker, mixing, state)


class Supernet(nn.Module):
    """A space's outline with mixed edges (`network`) and one alpha per group of sites (rows x ops);
    with an edge-normalising mixing also one beta per group (one per row)."""

    def __init__(self, space: SearchSpace, network: nn.Module, maker: MixedEdges, mixing: Mixing,
                 state: ForwardState) -> None:
        super().__init__()
        self.space, self.mixing, self._state = space, mixing, state
        self.network = network
        self.made = maker.made  # (site, edge) in the order the outline met them: what inheritance walks
        groups: dict[str, dict[int, Site]] = {}  # group -> row -> its site (the first cell's: later cells repeat it)
        for site in maker.sites:
            groups.setdefault(site.group, {}).setdefault(site.row, site)
        self.cell_types = tuple(space.groups() or groups)
        self.op_names = maker.sites[0].ops
        if any(site.ops != self.op_names for site in maker.sites):
            raise ConfigError(f"The {space.name} space's sites choose among different ops: a supernet needs one list.")
        self.rows = {group: len(groups.get(group, {})) for group in self.cell_types}
        widest = max(self.rows.values())
        self.rows = {group: rows or widest for group, rows in self.rows.items()}  # a group no cell of this size has
        ordered = {group: [rows[r] for r in sorted(rows)] for group, rows in groups.items()}
        self.labels = {group: [s.label for s in ordered.get(group, [])] for group in self.cell_types}
        self.nodes = {group: _node_ranges(ordered.get(group, [])) for group in self.cell_types}
        for group in self.cell_types:  # 1e-3 * N(0, 1), as the papers initialise
            self.register_parameter(f"alpha_{group}", nn.Parameter(1e-3 * torch.randn(self.rows[group], len(self.op_names))))
            if mixing.edge_weights:
                self.register_parameter(f"beta_{group}", nn.Parameter(1e-3 * torch.randn(self.rows[group])))
        with torch.no_grad():
            for site in maker.sites:
                for op in site.masked:
                    self.alpha(site.group)[site.row, self.op_names.index(op)] = MASKED

    # --- what strategies read and set --------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.mixing.name

    @property
    def num_edges(self) -> int:
        """Rows of the first group (cell spaces: edges per cell)."""
        return self.rows[self.cell_types[0]]

    @property
    def tau(self) -> float:
        return self.mixing.tau

    @tau.setter
    def tau(self, value: float) -> None:
        self.mixing.tau = value

    @property
    def generator(self) -> torch.Generator | None:
        return self.mixing.generator

    @generator.setter
    def generator(self, value: torch.Generator | None) -> None:
        self.mixing.generator = value

    @property
    def skip_dropout(self) -> float:
        return next((m.skip_dropout for m in self.modules() if isinstance(m, MixedEdge)), 0.0)

    @skip_dropout.setter
    def skip_dropout(self, p: float) -> None:
        for m in self.modules():
            if isinstance(m, MixedEdge):
                m.skip_dropout = float(p)

    def normalise_over_processes(self, device: torch.device) -> None:
        """Data-parallel training: every BatchNorm normalises over the global batch (the processes'
        slices together), the candidates' own included. An elastic block's BatchNorms, sliced per
        candidate, cannot: refused with what to do."""
        if any(isinstance(m, SharedEdge) for m in self.modules()):
            raise ConfigError(f"The {self.space.name} space's elastic blocks normalise each candidate's channels with "
                              "slices of one BatchNorm, which cannot take the statistics of the global batch under "
                              "torchrun: set trainer.sync_batchnorm=false (each process normalises its own slice).")
        data_parallel.sync_batchnorm(self, device)
        for m in self.modules():
            if isinstance(m, MixedEdge):
                m.refresh()

    def row_labels(self, group: str) -> list[str]:
        """How plots name the rows of a group ("2<-0": node 2 from state 0; "b3": block slot 3)."""
        return self.labels[group]

    # --- parameter sets ----------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        """alphas (and betas), the upper-level variables of the bilevel problem."""
        return [p for name, p in self.named_parameters() if _is_arch(name)]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every other parameter: the shared weights."""
        return [p for name, p in self.named_parameters() if not _is_arch(name)]

    def alpha(self, group: str) -> torch.Tensor:
        return getattr(self, f"alpha_{group}")

    def arch_weights(self) -> dict[str, torch.Tensor]:
        """The mixing's weights of alpha per group (rows x ops; softmax unless the mixing says
        otherwise), detached, on the CPU."""
        return {group: self.mixing.weights(self.alpha(group).detach().float()).cpu() for group in self.cell_types}

    def edge_weights(self, group: str) -> torch.Tensor:
        """Per-row input weights: softmax of beta over each node's edges (edge normalisation), else ones."""
        if not self.mixing.edge_weights:
            return torch.ones(self.rows[group], device=self.alpha(group).device)
        beta = getattr(self, f"beta_{group}")
        return torch.cat([torch.softmax(beta[r.start:r.stop], dim=0) for r in self.nodes[group]])

    def derivation_weights(self) -> dict[str, list[list[float]]]:
        """The weights derivation ranks: arch_weights(), times the edge weights where edges are normalised."""
        out = {}
        for group, w in self.arch_weights().items():
            edge = self.edge_weights(group).detach().float().cpu()
            out[group] = (w * edge[:, None]).tolist()
        return out

    # --- architectures -----------------------------------------------------------------------------
    def derive(self) -> Arch:
        """The discrete architecture (the space's Arch) the current architecture parameters give."""
        return self.space.derive(self.derivation_weights())

    def cell_ops(self, arch: Arch) -> dict[str, list[str]]:
        """The ops `arch` runs, per group, in row order (for collapse statistics)."""
        picks = self.space.picks(arch)
        return {group: [op for row in range(self.rows[group]) if (op := picks.get((group, row))) is not None]
                for group in self.cell_types}

    def gene_prior_logits(self, gene_log_probs: Any) -> dict[str, torch.Tensor]:
        """Alpha rows matching independent per-gene distributions (the space's alpha_prior)."""
        return self.space.alpha_prior(gene_log_probs)

    # --- forward -----------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, arch: Any = None) -> torch.Tensor:
        """Logits of the mixing's mixture, or of exactly the ops of `arch` when one is given."""
        plans = self._path(arch) if arch is not None else {
            group: self.mixing.plan(self.alpha(group), self.edge_weights(group), self.training)
            for group in self.cell_types}
        self._state.begin(plans)
        try:
            return self.network(x)
        finally:
            self._state.end()

    def _path(self, arch: Any) -> dict[str, list[EdgeStep | None]]:
        picks = self.space.picks(arch)
        return {group: [None if (op := picks.get((group, row))) is None else EdgeStep(index=self.op_names.index(op))
                        for row in range(self.rows[group])] for group in self.cell_types}


def _node_ranges(sites: list[Site]) -> list[range]:
    """The rows of each node, in order (a node's rows are consecutive); a row that feeds no node is
    a range of its own."""
    ranges: list[range] = []
    previous: int | None = None
    for site in sites:
        if ranges and site.node is not None and site.node == previous:
            ranges[-1] = range(ranges[-1].start, site.row + 1)
        else:
            ranges.append(range(site.row, site.row + 1))
        previous = site.node
    return ranges


def _is_arch(name: str) -> bool:
    return name.startswith(("alpha_", "beta_"))
