"""The recurrent network of DARTS' PTB experiments, written once, with a site on every (node,
earlier state) pair of its cell.

The cell (Liu et al., 2019, after ENAS' cell, Pham et al., 2018), at each time step t:

    c_0, h_0 = split([x_t * m_x, h_{t-1} * m_h] W_0);  s_0 = h_{t-1} + sigmoid(c_0) * (tanh(h_0) - h_{t-1})
    node i reads state j through activation f:  c, h = split((s_j * m_h) W_i)
                                                 s_i = s_j + sigmoid(c) * (f(h) - s_j)
    h_t = mean of the states in `concat` (all intermediate nodes in a searched cell)

W_i is node i's own and shared by every state it may read and every activation: the candidates of
a site hold no weights, so the discrete network, the supernet (each node a mixture over its earlier
states and activations, `none` adding nothing) and a path of it are the same modules at the same
paths. m_x and m_h are variational dropout masks (one per sequence, dropoutx and dropouth).

The network is AWD-LSTM's (Merity et al., 2018) as the reference code builds it: embedding with
embedding dropout (dropoute) and variational dropout (dropouti), the cell unrolled over time,
variational dropout on its outputs (dropout), and a decoder tied to the embedding for a language
model; for classification the outputs are pooled (mean over the unpadded tokens, or the last one)
into a linear classifier. A training forward keeps its activation regularisation (AR, alpha) and
temporal activation regularisation (TAR, beta) in `penalty` for the loss.
"""

from __future__ import annotations

import torch
from torch import nn

from nascli.spaces.ops import Zero
from nascli.spaces.outline import Joint, Maker, Site, sum_terms
from nascli.spaces.rnn.genotype import OP_NAMES

INIT_RANGE = 0.04  # the reference code's uniform range of the cell's weights
ACTIVATION = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, "identity": lambda h: h}


def site_row(node: int, pred: int) -> int:
    """Row of (node i >= 1, state j < i): node 1's one row first, then node 2's two, ..."""
    return node * (node - 1) // 2 + pred


class Highway(nn.Module):
    """One activation at a site: s + sigmoid(c) * (f(h) - s) of its input (s, sigmoid(c), h, ...)."""

    def __init__(self, op: str) -> None:
        super().__init__()
        self.op = op

    def forward(self, x: tuple[torch.Tensor, ...]) -> torch.Tensor:
        s, gate, h = x[:3]
        return s + gate * (ACTIVATION[self.op](h) - s)


class NoHighway(Zero):
    """`none` at a site: zeros of the state's shape (a mixture skips it)."""

    def forward(self, x: tuple[torch.Tensor, ...]) -> torch.Tensor:  # type: ignore[override]
        return torch.zeros_like(x[0])


class HighwayMixture(nn.Module):
    """Every activation of a site at once, for a supernet (the site's `shared` module: its candidates
    hold no weights): one candidate (`run`), or the weighted sum of their highway updates
    (`mixture`), sum_k w_k (s + g (f_k(h) - s)) = W s + g (sum_k w_k f_k(h) - W s) with W = sum_k w_k,
    `none` adding nothing; a few kernels instead of a highway update per candidate."""

    def run(self, x: tuple[torch.Tensor, ...], op: str) -> torch.Tensor:
        s, gate, h = x[:3]
        return torch.zeros_like(s) if op == "none" else s + gate * (ACTIVATION[op](h) - s)

    def mixture(self, x: tuple[torch.Tensor, ...], ops: list[str], weights: list[torch.Tensor]) -> torch.Tensor:
        """`x`: (s, sigmoid(c), h, every activation of h in OP_NAMES' order (stacked first) or None)."""
        s, gate, h, every = x
        kept = [(op, w) for op, w in zip(ops, weights) if op != "none"]
        w = torch.stack([w for _, w in kept])
        if every is not None and [op for op, _ in kept] == list(OP_NAMES[1:]):
            acts = every  # computed once for all of the node's states
        else:
            acts = torch.stack([ACTIVATION[op](h) for op, _ in kept])
        combined = torch.tensordot(w, acts, dims=1)
        base = s * w.sum()
        return base + gate * (combined - base)

    def candidate_state(self, op: str) -> dict[str, torch.Tensor]:
        return {}  # no weights: W_i belongs to the node, outside the site


def node_mixture(x: tuple[torch.Tensor, ...], ops: tuple[str, ...], weights: torch.Tensor) -> torch.Tensor:
    """A supernet node's every site at once: x = (states, sigmoid(c), h, activations), stacked over
    the n states it reads ((n, B, H); activations (n, len(OP_NAMES) - 1, B, H), in OP_NAMES' order
    after `none`); `weights` (n, ops in OP_NAMES' order). The sum over states of
    HighwayMixture.mixture, as one batched product and a few whole-node kernels (the reference
    code's search cell takes one pass per activation)."""
    s, gate, _, acts = x
    n, k = acts.shape[:2]
    w = weights[:, 1:]                                     # `none` (OP_NAMES[0]) adds nothing
    combined = torch.bmm(w.unsqueeze(1), acts.reshape(n, k, -1)).view_as(s)  # sum_k w_k f_k(h) per state
    base = s * w.sum(dim=1)[:, None, None]
    return torch.addcmul(base, gate, combined - base).sum(dim=0)


def node_site(node: int, pred: int, nhid: int) -> Site:
    def build(op: str, width: int, affine: bool) -> nn.Module:
        return NoHighway(width) if op == "none" else Highway(op)

    return Site("cell", site_row(node, pred), OP_NAMES, build, nhid, nhid, 1, label=f"{node}<-{pred}",
                node=node - 1, source=pred, shared=HighwayMixture, joint=node_mixture)


class RNNCell(nn.Module):
    """The searched recurrent cell over a whole sequence: `nodes` intermediate nodes, a site per
    (node, earlier state)."""

    def __init__(self, make: Maker, nodes: int, ninp: int, nhid: int, concat: tuple[int, ...]) -> None:
        super().__init__()
        self.nhid, self.concat = nhid, tuple(concat)
        self.w0 = nn.Linear(ninp + nhid, 2 * nhid, bias=False)
        self.ws = nn.ModuleList(nn.Linear(nhid, 2 * nhid, bias=False) for _ in range(nodes))
        self.edges = nn.ModuleList(
            nn.ModuleList(make(node_site(node, pred, nhid)) or nn.Identity() for pred in range(node))
            for node in range(1, nodes + 1))
        # which (node, state) pairs hold an op (nn.Identity marks an absent one: ModuleList keeps no None)
        self.present = [[not isinstance(e, nn.Identity) for e in row] for row in self.edges]
        self.joint = [any(isinstance(e, Joint) for e in row) for row in self.edges]  # a supernet's nodes
        for linear in (self.w0, *self.ws):
            nn.init.uniform_(linear.weight, -INIT_RANGE, INIT_RANGE)

    def step(self, x: torch.Tensor, h_prev: torch.Tensor, x_mask: torch.Tensor | None,
             h_mask: torch.Tensor | None) -> torch.Tensor:
        """One time step: x (B, ninp), h_prev (B, nhid) -> h (B, nhid)."""
        xm = x if x_mask is None else x * x_mask
        hm = h_prev if h_mask is None else h_prev * h_mask
        c0, h0 = self.w0(torch.cat([xm, hm], dim=-1)).chunk(2, dim=-1)
        states = [h_prev + c0.sigmoid() * (h0.tanh() - h_prev)]
        for i, (edges, present, w, joint) in enumerate(zip(self.edges, self.present, self.ws, self.joint)):
            reads = [j for j in range(i + 1) if present[j]]
            if len(reads) > 1:  # a supernet's node reads every earlier state: one product for all of them
                stacked = torch.stack([states[j] for j in reads])
                c, h = w(stacked if h_mask is None else stacked * h_mask).chunk(2, dim=-1)
                gates = c.sigmoid()
                acts = torch.stack([ACTIVATION[op](h) for op in OP_NAMES[1:]], dim=1)  # every activation of every state
                if joint:  # a supernet's edges: the node in one go, when they all mix in this forward
                    node = edges[reads[0]].together([edges[j] for j in reads], (stacked, gates, h, acts))
                    if node is not None:
                        states.append(node)
                        continue
                inputs = {j: (states[j], gates[n], h[n], acts[n]) for n, j in enumerate(reads)}
            else:
                inputs = {}
                for j in reads:
                    c, h = w(states[j] if h_mask is None else states[j] * h_mask).chunk(2, dim=-1)
                    inputs[j] = (states[j], c.sigmoid(), h, None)

            def term(j: int) -> torch.Tensor | None:
                return edges[j](inputs[j])

            node = sum_terms(term(j) for j in reads)
            states.append(node if node is not None else torch.zeros_like(h_prev))
        return torch.stack([states[k] for k in self.concat]).mean(dim=0)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor, x_mask: torch.Tensor | None,
                h_mask: torch.Tensor | None) -> torch.Tensor:
        """x (B, T, ninp), hidden (B, nhid) -> every step's output (B, T, nhid)."""
        outputs = []
        for t in range(x.shape[1]):
            hidden = self.step(x[:, t], hidden, x_mask, h_mask)
            outputs.append(hidden)
        return torch.stack(outputs, dim=1)


def locked_mask(like: torch.Tensor, p: float) -> torch.Tensor:
    """A (B, 1, D) or (B, D) variational dropout mask of `like`'s batch and last size, scaled."""
    shape = (like.shape[0], *([1] * (like.dim() - 2)), like.shape[-1])
    return like.new_empty(shape).bernoulli_(1 - p) / (1 - p)


class RNNNet(nn.Module):
    """Embedding, the cell unrolled over time, dropout and a tied decoder (head `lm`: next-token
    logits (B, T, V)) or a pooled classifier (head `mean` / `last`: (B, classes)).

    A language model may carry its hidden state from one batch to the next (`carry = True`: the
    rows of consecutive batches continue each other); `reset()` starts afresh. With `advance = False`
    a forward starts from the carried state but leaves it as it was (the extra forwards of a
    second-order architecture step)."""

    def __init__(self, make: Maker, vocab: int, num_classes: int, nodes: int, emsize: int, nhid: int,
                 concat: tuple[int, ...], head: str, tie_weights: bool, dropout: float, dropouth: float,
                 dropoutx: float, dropouti: float, dropoute: float, ar: float, tar: float) -> None:
        super().__init__()
        self.head, self.nhid = head, nhid
        self.dropout, self.dropouth, self.dropoutx, self.dropouti, self.dropoute = (
            dropout, dropouth, dropoutx, dropouti, dropoute)
        self.ar, self.tar = ar, tar
        self.encoder = nn.Embedding(vocab, emsize)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        self.cell = RNNCell(make, nodes, emsize, nhid, concat)
        self.decoder = nn.Linear(nhid, num_classes)
        nn.init.zeros_(self.decoder.bias)
        if head == "lm" and tie_weights:
            self.decoder.weight = self.encoder.weight
        else:
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        self.carry = False
        self.advance = True
        self.hidden: torch.Tensor | None = None
        self.penalty: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the carried hidden state."""
        self.hidden = None

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.encoder.weight
        if self.training and self.dropoute > 0:  # drop whole words (embedding rows), as AWD-LSTM
            weight = weight * locked_mask(weight[:, :1].expand(-1, 1), self.dropoute)
        return nn.functional.embedding(x, weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: token ids (B, T)."""
        batch = x.shape[0]
        emb = self._embed(x)
        train = self.training
        if train and self.dropouti > 0:
            emb = emb * locked_mask(emb, self.dropouti)
        hidden = self.hidden if (self.carry and self.hidden is not None and self.hidden.shape[0] == batch) else None
        if hidden is None:
            hidden = emb.new_zeros(batch, self.nhid)
        x_mask = locked_mask(emb[:, 0], self.dropoutx) if train and self.dropoutx > 0 else None
        h_mask = locked_mask(hidden, self.dropouth) if train and self.dropouth > 0 else None
        raw = self.cell(emb, hidden, x_mask, h_mask)
        if self.carry and self.advance:
            self.hidden = raw[:, -1].detach()
        out = raw * locked_mask(raw, self.dropout) if train and self.dropout > 0 else raw
        self.penalty = None
        if train and (self.ar > 0 or self.tar > 0):
            self.penalty = self.ar * out.pow(2).mean() + self.tar * (raw[:, 1:] - raw[:, :-1]).pow(2).mean()
        if self.head == "lm":
            return self.decoder(out)
        if self.head == "last":
            last = ((x != 0).long().sum(dim=1) - 1).clamp_min(0)
            pooled = out[torch.arange(batch, device=x.device), last]
        else:
            mask = (x != 0).unsqueeze(-1).to(out.dtype)
            pooled = (out * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)
        return self.decoder(pooled)
