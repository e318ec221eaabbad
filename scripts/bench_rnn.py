"""Tokens per second of one DARTS search step on the recurrent cell, nascli's supernet against the
DARTS reference code's rnn/model_search.py (re-implemented here, minimally, from reading it), at
the same size on the CPU, printed as a table.

    python scripts/bench_rnn.py                              # the search's size: 8 nodes, emsize = nhid = 300, bptt 35
    python scripts/bench_rnn.py --nhid 64 --batch 8 --bptt 20 --steps 3   # quick
    python scripts/bench_rnn.py --order second               # with the unrolled architecture gradient (nascli only)

A step is what the search loop does per batch (first order): an architecture update (Adam) on a
validation batch, then a weight update (SGD, clipped) on a training batch; tokens/s counts the
training batch's tokens. Both sides run the same driver, the same vocabulary, batch, bptt and
thread count, without dropout (its masks cost both alike). The reference's search cell also batch-
normalises every node's state (affine-free), which nascli's supernet does not (so that a path of it
is exactly the discrete network): the reference's step does that much more work, so the table adds
the reference without its batch norm, the same work as nascli's step, for the like-for-like ratio.

The reference's step, as its rnn/model_search.py writes it: per time step, x and h projected by W0
into the first state; for node i, every earlier state (masked) projected by W_i at once, split into
gate and candidate, and for each activation but `none` the highway update of every earlier state,
weighted by softmax(alpha) of its row and summed; the node batch-normalised; the output the mean of
the nodes. Not copied: written for this comparison.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nascli.runtime.config import build_option  # noqa: E402
from nascli.strategies.bilevel import BilevelStep  # noqa: E402
from nascli.training.steps import StepRunner, resolve  # noqa: E402
from nascli.weight_sharing.mixing import Softmax  # noqa: E402
from nascli.weight_sharing.supernet import build_supernet  # noqa: E402

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, "identity": lambda h: h}
OPS = ("none", "tanh", "relu", "sigmoid", "identity")


class ReferenceSearchNet(nn.Module):
    """The reference code's search network (rnn/model_search.py): embedding, the mixed cell with a
    batch norm on every node, a decoder tied to the embedding; alphas (rows of (node, state) x ops)."""

    def __init__(self, vocab: int, nhid: int, nodes: int, batch_norm: bool = True) -> None:
        super().__init__()
        self.nhid, self.nodes = nhid, nodes
        self.encoder = nn.Embedding(vocab, nhid)
        self.w0 = nn.Parameter(torch.empty(2 * nhid, 2 * nhid).uniform_(-0.04, 0.04))
        self.ws = nn.ParameterList(nn.Parameter(torch.empty(nhid, 2 * nhid).uniform_(-0.04, 0.04)) for _ in range(nodes))
        self.bn = nn.BatchNorm1d(nhid, affine=False) if batch_norm else nn.Identity()
        self.decoder = nn.Linear(nhid, vocab)
        self.decoder.weight = self.encoder.weight
        self.alphas = nn.Parameter(1e-3 * torch.randn(nodes * (nodes + 1) // 2, len(OPS)))

    def step(self, x: torch.Tensor, h: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        c0, h0 = (torch.cat([x, h], dim=-1) @ self.w0).split(self.nhid, dim=-1)
        s0 = self.bn(h + c0.sigmoid() * (h0.tanh() - h))
        states = s0.unsqueeze(0)
        offset = 0
        for i in range(self.nodes):
            c, hh = (states.reshape(-1, self.nhid) @ self.ws[i]).view(i + 1, -1, 2 * self.nhid).split(self.nhid, dim=-1)
            c = c.sigmoid()
            s = torch.zeros_like(s0)
            for k, name in enumerate(OPS):
                if name == "none":
                    continue
                unweighted = states + c * (ACTIVATIONS[name](hh) - states)
                s = s + (probs[offset:offset + i + 1, k][:, None, None] * unweighted).sum(dim=0)
            states = torch.cat([states, self.bn(s).unsqueeze(0)], dim=0)
            offset += i + 1
        return states[1:].mean(dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(self.alphas, dim=-1)
        emb = self.encoder(x)
        h = emb.new_zeros(x.shape[0], self.nhid)
        outputs = []
        for t in range(x.shape[1]):
            h = self.step(emb[:, t], h, probs)
            outputs.append(h)
        return self.decoder(torch.stack(outputs, dim=1))


def loss_of(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    logits = net(batch[0])
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[1].reshape(-1))


def reference_step(net: ReferenceSearchNet, w_opt: torch.optim.Optimizer, a_opt: torch.optim.Optimizer,
                   train: tuple, val: tuple) -> None:
    """First order: alphas on the validation batch, then the weights on the training batch."""
    weights = [p for n, p in net.named_parameters() if n != "alphas"]
    a_opt.zero_grad(set_to_none=True)
    loss_of(net, val).backward(inputs=[net.alphas])
    a_opt.step()
    w_opt.zero_grad(set_to_none=True)
    loss_of(net, train).backward(inputs=weights)
    nn.utils.clip_grad_norm_(weights, 0.25)
    w_opt.step()


def timed(steps: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Median seconds per step of each implementation, their steps interleaved (one of each in
    turn, after a warm-up of each), so that a change in the machine's load weighs on both alike."""
    for step in steps.values():
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--nhid", type=int, default=300, help="emsize = nhid, as the reference's search")
    parser.add_argument("--vocab", type=int, default=10_000, help="PTB's vocabulary")
    parser.add_argument("--batch", type=int, default=16, help="the search's is 256; CPU runs use fewer")
    parser.add_argument("--bptt", type=int, default=35)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--order", choices=("first", "second"), default="first")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    batch = lambda: (torch.randint(0, args.vocab, (args.batch, args.bptt), generator=gen),  # noqa: E731
                     torch.randint(0, args.vocab, (args.batch, args.bptt), generator=gen))
    train, val = batch(), batch()
    device = torch.device("cpu")

    space = build_option("search_space", "rnn", {"nodes": args.nodes, "emsize": args.nhid, "nhid": args.nhid,
                                                 "dropout": 0.0, "dropouth": 0.0, "dropoutx": 0.0, "dropouti": 0.0,
                                                 "dropoute": 0.0, "tar": 0.0})
    trainer = build_option("trainer", "text", {"batch_size": args.batch})
    net = build_supernet(space, args.vocab, args.vocab, args.bptt, Softmax())
    runner = StepRunner(resolve(trainer, device), device)
    runner.prepare(net)
    weights = {n: p for n, p in net.named_parameters() if not n.startswith("alpha_")}
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=20.0, weight_decay=5e-7)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=3e-3, betas=(0.9, 0.999), weight_decay=1e-3)
    body = BilevelStep(runner, net, weights, w_opt, a_opt, args.order, 0.0, 5e-7, 0.25)
    steps = {"ours": lambda: body([(*train, *val)], (1.0,), 20.0, True)}

    if args.order == "first":
        for name, batch_norm in (("theirs", True), ("theirs without batch norm", False)):
            ref = ReferenceSearchNet(args.vocab, args.nhid, args.nodes, batch_norm)
            r_w = torch.optim.SGD([p for n, p in ref.named_parameters() if n != "alphas"], lr=20.0, weight_decay=5e-7)
            r_a = torch.optim.Adam([ref.alphas], lr=3e-3, betas=(0.9, 0.999), weight_decay=1e-3)
            steps[name] = lambda ref=ref, r_w=r_w, r_a=r_a: reference_step(ref, r_w, r_a, train, val)
    medians = timed(steps, args.steps)
    ours, theirs = medians["ours"], medians.get("theirs")

    tokens = args.batch * args.bptt
    rows = [("nascli supernet", ours),
            *([("reference rnn/model_search.py (re-implemented)", theirs),
               ("  the same without its batch norm (nascli's work)", medians["theirs without batch norm"])]
              if theirs else [])]
    load = os.getloadavg()
    print(f"DARTS recurrent search step ({args.order} order) on CPU, {args.threads} thread(s): {args.nodes} nodes, "
          f"emsize = nhid = {args.nhid}, vocabulary {args.vocab}, batch {args.batch} x bptt {args.bptt}, "
          f"median of {args.steps} timed steps of each, interleaved, after one warm-up")
    print(f"machine load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs "
          "(a busy machine slows both sides alike; compare the ratio, not the absolute figures)")
    like = medians.get("theirs without batch norm")
    print(f"{'implementation':<50} {'s/step':>8} {'tokens/s':>10} {'vs reference':>13} {'vs it without BN':>17}")
    for name, seconds in rows:
        ratio = f"{theirs / seconds:.2f}x" if theirs else "-"
        like_ratio = f"{like / seconds:.2f}x" if like else "-"
        print(f"{name:<50} {seconds:>8.3f} {tokens / seconds:>10.1f} {ratio:>13} {like_ratio:>17}")


if __name__ == "__main__":
    main()
