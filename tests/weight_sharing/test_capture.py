"""strategy.compile (how the bilevel step runs): which mode `auto` picks, the refusals, and that a
compiled step computes what the eager step computes (losses, gradients, weights, alphas and the
derived genotype), first and second order. The CUDA graph mode is checked on a GPU by
scripts/check_search_cuda.py (scripts/gpu_check_search.sh)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from configured import CPU, dataset, space, strategy
from nasrun import run

from nascli.errors import ConfigError
from nascli.strategies.base import SearchContext
from nascli.weight_sharing import capture
from nascli.weight_sharing.capture import resolve_compile

CUDA = torch.device("cuda")  # only named, never used: resolve_compile decides by the device type


def test_auto_is_eager_on_cpu_and_on_cuda_until_measured():
    assert resolve_compile("auto", CPU, "darts", None) == "none"
    assert resolve_compile("auto", CUDA, "darts", None) == "none"
    assert resolve_compile("auto", CUDA, "gdas", "fp16") == "none"
    assert resolve_compile("graphs", CUDA, "pcdarts", "bf16") == "graphs"
    assert resolve_compile("compile", CPU, "darts", None) == "compile"


@pytest.mark.parametrize(("value", "device", "mode", "amp", "message"), [
    ("graphs", CPU, "darts", None, "needs a CUDA device"),
    ("graphs", CUDA, "gdas", None, "cannot apply to GDAS"),
    ("compile", CUDA, "gdas", None, "cannot apply to GDAS"),
    ("graphs", CUDA, "darts", "fp16", "fp16"),
    ("fast", CPU, "darts", None, "auto, none, graphs, compile"),
])
def test_modes_that_cannot_apply_are_refused(value, device, mode, amp, message):
    with pytest.raises(ConfigError, match=message):
        resolve_compile(value, device, mode, amp)


def test_graphs_on_cpu_is_a_clear_error_from_the_command(tmp_path):
    result = run("search", "strategy=darts", "debug=smoke", "strategy.compile=graphs", run_dir=tmp_path / "r")
    assert result.code == 2, result.text
    assert "strategy.compile=graphs" in result.err and "CUDA" in result.err and "Traceback" not in result.text


def test_a_bad_compile_value_is_refused_when_the_strategy_is_built():
    with pytest.raises(ConfigError, match="strategy.compile"):
        strategy("darts", space("nb201"), compile="fastest")


# --- equivalence of the compiled step -----------------------------------------------------------------
def _steps(name: str, order: str, compile_mode: str, batches: list[Any]) -> dict[str, Any]:
    """Train a tiny nb201 supernet for len(batches) bilevel steps; what each step computed and where it ended."""
    searched = space("nb201", channels=4, cells_per_stage=1)
    search = strategy(name, searched, seed=0, order=order, batch_size=8, channels=4, layers=5,
                      channels_last=False, compile=compile_mode)
    search.setup(SearchContext(CPU, lambda: dataset("digits", max_train_samples=32)))
    net = search.net
    logits = [search.bilevel_step(train, val, 0.025, update_arch=True).clone() for train, val in batches]
    return {"logits": logits,
            "arch_grads": [p.grad.clone() for p in net.arch_parameters()],
            "weight_grads": [p.grad.clone() for p in net.weight_parameters()],
            "state": {k: v.clone() for k, v in net.state_dict().items()},
            "genotype": net.derive()}


@pytest.fixture
def aot_eager(monkeypatch):
    """torch.compile's tracing and autograd without inductor's C++ code generation, which takes
    about 100 s for this supernet on the 2-core CI machine (the traced graphs are the same)."""
    monkeypatch.setattr(capture, "BACKEND", "aot_eager")
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize(("name", "order"), [("darts", "second"), ("pcdarts", "first")])
def test_compiled_step_equals_the_eager_step(aot_eager, name, order):
    gen = torch.Generator().manual_seed(0)
    batch = lambda: (torch.rand(8, 1, 8, 8, generator=gen), torch.randint(0, 10, (8,), generator=gen))  # noqa: E731
    batches = [(batch(), batch()) for _ in range(2)]
    eager = _steps(name, order, "none", batches)
    torch._dynamo.utils.counters.clear()
    compiled = _steps(name, order, "compile", batches)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # it did compile, not fall back
    for a, b in zip(eager["logits"], compiled["logits"]):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    for key in ("arch_grads", "weight_grads"):
        for a, b in zip(eager[key], compiled[key]):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
    assert eager["state"].keys() == compiled["state"].keys()  # compiling leaves the state_dict names alone
    for key, value in eager["state"].items():
        torch.testing.assert_close(compiled["state"][key], value, rtol=1e-5, atol=1e-6)
    assert compiled["genotype"] == eager["genotype"]
    assert not torch.equal(eager["state"]["alpha_cell"], torch.zeros_like(eager["state"]["alpha_cell"]))


# --- the CUDA-graph bookkeeping, with a stand-in for CUDA ------------------------------------------------
class FakeGraph:
    """A CUDA graph stand-in: its capture runs the step (a real capture only records it), so the
    replay that follows a capture does nothing, and later replays run the recorded step again."""

    capturing: list[FakeGraph] = []

    def __init__(self) -> None:
        self.thunk, self.fresh = None, True

    def replay(self) -> None:
        if self.fresh:
            self.fresh = False
        else:
            self.thunk()


class _Capture:
    def __init__(self, graph: FakeGraph, pool: Any = None) -> None:
        self.graph = graph

    def __enter__(self) -> None:
        FakeGraph.capturing.append(self.graph)

    def __exit__(self, *exc: Any) -> None:
        FakeGraph.capturing.pop()


class _Stream:
    def wait_stream(self, other: Any) -> None:
        pass


def recording(body):
    """`body`, whose calls under a fake capture become the graph's replay: the same static inputs,
    the result written into the same output tensor, as a CUDA graph does."""

    def step(*args):
        out = body(*args)
        if FakeGraph.capturing:
            FakeGraph.capturing[-1].thunk = lambda: out.copy_(body(*args))
        return out

    return step


@pytest.fixture
def fake_cuda(monkeypatch):
    import contextlib

    monkeypatch.setattr(torch.cuda, "graph_pool_handle", lambda: None)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", FakeGraph)
    monkeypatch.setattr(torch.cuda, "graph", _Capture)
    monkeypatch.setattr(torch.cuda, "Stream", _Stream)
    monkeypatch.setattr(torch.cuda, "current_stream", _Stream)
    monkeypatch.setattr(torch.cuda, "stream", lambda stream: contextlib.nullcontext())


def test_graphed_step_warms_up_captures_per_lr_and_replays_new_inputs(fake_cuda):
    """What the captured step computes equals the eager step's over warm-up, capture, replays with
    new batches, a new learning rate (captured again) and a short batch (run eagerly)."""
    gen = torch.Generator().manual_seed(0)
    batch = lambda n=8: (torch.rand(n, 1, 8, 8, generator=gen), torch.randint(0, 10, (n,), generator=gen))  # noqa: E731
    plan = [(batch(), batch(), 0.025) for _ in range(6)] + [(batch(), batch(), 0.02) for _ in range(2)]
    plan.append((batch(4), batch(4), 0.02))  # a short last batch
    searches = []
    for graphed in (False, True):
        searched = space("nb201", channels=4, cells_per_stage=1)
        search = strategy("darts", searched, seed=0, order="second", batch_size=8, channels=4, layers=5,
                          channels_last=False, compile="none")
        search.setup(SearchContext(CPU, lambda: dataset("digits", max_train_samples=32)))
        if graphed:
            search.graphed = capture.GraphedBilevelStep(recording(search._eager_step))
        logits = [search.bilevel_step(train, val, lr, update_arch=True).clone() for train, val, lr in plan]
        searches.append((search, logits))
    (eager, eager_logits), (graphed, graphed_logits) = searches
    assert graphed.graphed.captures == 2  # after 3 warm-up steps, once per learning rate
    for a, b in zip(eager_logits, graphed_logits):
        torch.testing.assert_close(b, a)
    for key, value in eager.net.state_dict().items():
        torch.testing.assert_close(graphed.net.state_dict()[key], value)
