"""The step runner (nascli.training.steps): one `auto` table for every trainer, one vocabulary of
switches (trainer.<key>) with clear refusals, gradient accumulation that equals one larger batch,
the one CUDA-graph wrapper's bookkeeping (checked on CPU with a stand-in for CUDA's graph calls; on a
GPU by scripts/check_search_cuda.py), and torch.compile computing what the eager step computes."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import pytest
import torch
from configured import CPU, dataset, search_trainer, space, strategy, trainer
from nasrun import read_json, run
from torch import nn

from nascli.errors import ConfigError
from nascli.strategies.base import SearchContext
from nascli.strategies.bilevel import BILEVEL_LIMITS, SAMPLED_PATH
from nascli.training import loop, steps
from nascli.training.loop import train
from nascli.training.steps import AUTO, Limits, MicroBatch, StepRunner, resolve
from nascli.weight_sharing.single_path import PATH_LIMITS, PathStep

CUDA = torch.device("cuda")  # only named, never used: resolve decides by the device type


# --- one auto table, one vocabulary ------------------------------------------------------------------------
@pytest.mark.parametrize("device", [CPU, CUDA])
def test_one_auto_table_resolves_the_same_switches_for_retrain_and_a_one_shot_search(device):
    retrain = resolve(trainer("default"), device)
    expected = AUTO[device.type]
    assert (retrain.amp, retrain.channels_last, retrain.compile, retrain.optimizer_step, retrain.cuda_graphs) == (
        expected["amp"], expected["channels_last"], expected["compile"], expected["optimizer_step"],
        expected["cuda_graphs"])
    for name, limits in (("spos", PATH_LIMITS), ("enas", PATH_LIMITS), ("darts", BILEVEL_LIMITS),
                         ("gdas", dataclasses.replace(BILEVEL_LIMITS, cuda_graphs=SAMPLED_PATH, compile=SAMPLED_PATH))):
        searched = resolve(search_trainer(name, channels_last="auto"), device, limits=limits)
        assert searched == retrain, name
    assert resolve(trainer("proxy"), device) == retrain  # evaluator=train's trainer too


def test_a_search_resolves_the_trainer_it_is_given(tmp_path):
    """report.json records how a one-shot step ran; darts_search asks for channels_last, the rest is auto."""
    run_dir = tmp_path / "spos"
    result = run("search", "strategy=spos", "debug=smoke", "search_space.cells_per_stage=1", "plots=false",
                 run_dir=run_dir)
    assert result.code == 0, result.text
    assert read_json(run_dir / "report.json")["speed"] == resolve(trainer("default"), CPU).describe()


@pytest.mark.parametrize(("key", "value", "message"), [
    ("amp", "fp8", "trainer.amp must be one of"),
    ("compile", "fastest", "trainer.compile must be one of"),
    ("optimizer_step", "magic", "trainer.optimizer_step must be one of"),
    ("channels_last", "yes", "trainer.channels_last must be"),
    ("cuda_graphs", "maybe", "trainer.cuda_graphs must be"),
    ("accumulate", 0, "trainer.accumulate must be"),
])
def test_a_bad_switch_value_is_a_clear_error_naming_its_trainer_key(key, value, message):
    with pytest.raises(ConfigError, match=message):
        trainer("proxy", **{key: value})
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(trainer("proxy"), **{key: value})  # however TrainConfig is built


@pytest.mark.parametrize("command", [("search", "strategy=darts"), ("search", "strategy=spos"),
                                     ("retrain", "genotype=DARTS_V2")])
def test_a_bad_switch_on_the_command_line_exits_2_for_every_trainer(tmp_path, command):
    result = run(*command, "debug=smoke", "trainer.amp=fp8", run_dir=tmp_path / "r")
    assert result.code == 2 and "trainer.amp" in result.err and "Traceback" not in result.text, result.text


@pytest.mark.parametrize(("options", "device", "limits", "message"), [
    ({"cuda_graphs": True}, CPU, Limits(), "cuda_graphs=true captures the training step as a CUDA graph: it needs a CUDA"),
    ({"cuda_graphs": True, "amp": "fp16"}, CUDA, Limits(), "fp16's loss scale"),
    ({"cuda_graphs": True, "compile": "default"}, CUDA, Limits(), "do not mix"),
    ({"cuda_graphs": True}, CUDA, Limits(cuda_graphs=SAMPLED_PATH), "GDAS step samples its path on the host"),
    ({"compile": "reduce-overhead"}, CUDA, Limits(compile=SAMPLED_PATH), "trainer.compile=reduce-overhead cannot"),
    ({"compile": "default"}, CPU, PATH_LIMITS, "another sampled path"),
    ({"accumulate": 2}, CPU, BILEVEL_LIMITS, "trainer.accumulate=2 cannot apply here: the bilevel step"),
    ({"amp": "fp16"}, CPU, Limits(fp16="no scaler here"), "trainer.amp=fp16 cannot apply here: no scaler here"),
])
def test_what_a_device_or_a_step_body_cannot_do_is_refused_with_the_reason(options, device, limits, message):
    with pytest.raises(ConfigError, match=message):
        resolve(trainer("proxy", **options), device, limits=limits)


def test_auto_never_picks_what_the_body_cannot_do(monkeypatch):
    monkeypatch.setitem(AUTO, "cuda", {**AUTO["cuda"], "cuda_graphs": True, "compile": "reduce-overhead"})
    assert resolve(trainer("proxy"), CUDA).compile == "reduce-overhead"
    gdas = resolve(trainer("proxy"), CUDA, limits=Limits(cuda_graphs=SAMPLED_PATH, compile=SAMPLED_PATH))
    assert (gdas.compile, gdas.cuda_graphs) == (None, False)


def test_graphs_on_cpu_is_a_clear_error_from_the_search_command(tmp_path):
    result = run("search", "strategy=darts", "debug=smoke", "trainer.cuda_graphs=true", run_dir=tmp_path / "r")
    assert result.code == 2, result.text
    assert "trainer.cuda_graphs=true" in result.err and "CUDA" in result.err and "Traceback" not in result.text


# --- gradient accumulation -----------------------------------------------------------------------------------
def _no_batchnorm_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))


@pytest.mark.parametrize("samples", [96, 100])  # 100: a last step of fewer (and smaller) batches
def test_accumulated_batches_train_as_one_batch_as_large(samples):
    """trainer.accumulate=4 at batch 8 takes the steps batch 32 takes (the same images in the same
    order, no augmentation drawing per batch, no batch norm): the same weights to float rounding."""
    data = dataset("digits", max_train_samples=samples, augment={"crop_padding": 0, "flip": False})

    def trained(batch_size: int, accumulate: int) -> dict[str, torch.Tensor]:
        model = _no_batchnorm_net()
        cfg = trainer("proxy", epochs=2, batch_size=batch_size, accumulate=accumulate, lr=0.2)
        history = train(model, data, cfg, CPU, seed=0)
        assert history[-1]["train_loss"] < history[0]["train_loss"] * 1.5
        return model.state_dict()

    large, accumulated, every_batch = trained(32, 1), trained(8, 4), trained(8, 1)
    for key, value in large.items():
        torch.testing.assert_close(accumulated[key], value, rtol=1e-4, atol=1e-6)
    assert max((every_batch[k] - large[k]).abs().max().item() for k in large) > 1e-3  # 4x the steps: elsewhere


def test_the_optimiser_steps_once_per_accumulated_group(monkeypatch):
    calls = []
    real = StepRunner.update
    monkeypatch.setattr(StepRunner, "update", lambda self, *args: (calls.append(1), real(self, *args))[1])
    data = dataset("digits", max_train_samples=100, augment={"crop_padding": 0, "flip": False})
    train(_no_batchnorm_net(), data, trainer("proxy", epochs=1, batch_size=8, accumulate=4), CPU, seed=0)
    assert len(calls) == 4  # 13 batches of 8 (the last of 4 images): 4 + 4 + 4 + 1


class ToyPaths(nn.Module):
    """A single-path 'supernet' without batch norm: the path picks one of two linear layers."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.ops = nn.ModuleList(nn.Linear(64, 10) for _ in range(2))

    def forward(self, x: torch.Tensor, arch: int) -> torch.Tensor:
        return self.ops[arch](x.flatten(1))

    def weight_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())


def test_single_path_steps_accumulate_their_paths_gradients():
    """Two micro-batches of 4 on paths 0 and 1 take one step: the gradient of their mean loss over 8 images."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 1, 8, 8, generator=gen), torch.randint(0, 10, (8,), generator=gen)
    runner = StepRunner(resolve(trainer("proxy", accumulate=2), CPU, limits=PATH_LIMITS), CPU, accumulate=2)
    net = ToyPaths()
    reference = ToyPaths()
    optimizer = runner.sgd(net.weight_parameters(), lr=0.5, momentum=0.0)
    paths = iter([0, 1])
    step = PathStep(runner, net, optimizer, lambda: next(paths), grad_clip=0.0)
    (group,) = runner.groups([MicroBatch((x[:4], y[:4]), 1.0, 4), MicroBatch((x[4:], y[4:]), 1.0, 4)])
    runner.run(step, group)
    loss = (nn.functional.cross_entropy(reference(x[:4], 0), y[:4]) + nn.functional.cross_entropy(reference(x[4:], 1), y[4:])) / 2
    loss.backward()
    with torch.no_grad():
        for p in reference.parameters():
            p -= 0.5 * p.grad
    for a, b in zip(net.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b)


# --- the one CUDA-graph wrapper, with a stand-in for CUDA -------------------------------------------------
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


def _tensors(out: Any) -> list[torch.Tensor]:
    if torch.is_tensor(out):
        return [out]
    return [t for item in out for t in _tensors(item)] if isinstance(out, (list, tuple)) else []


def recording(body):
    """`body`, whose calls under a fake capture become the graph's replay: the same static inputs,
    the results written into the same output tensors, as a CUDA graph does."""

    def step(*args):
        out = body(*args)
        if FakeGraph.capturing:
            def replay() -> None:
                for mine, new in zip(_tensors(out), _tensors(body(*args))):
                    mine.copy_(new)
            FakeGraph.capturing[-1].thunk = replay
        return out

    return step


@pytest.fixture
def fake_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "graph_pool_handle", lambda: None)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", FakeGraph)
    monkeypatch.setattr(torch.cuda, "graph", _Capture)
    monkeypatch.setattr(torch.cuda, "Stream", _Stream)
    monkeypatch.setattr(torch.cuda, "current_stream", _Stream)
    monkeypatch.setattr(torch.cuda, "stream", lambda stream: contextlib.nullcontext())


def _graphed(runner: StepRunner) -> None:
    runner.how = dataclasses.replace(runner.how, cuda_graphs=True)  # what resolve gives on a GPU


def test_the_bilevel_step_warms_up_captures_per_lr_and_replays_new_inputs(fake_cuda):
    """What the captured step computes equals the eager step's over warm-up, capture, replays with
    new batches, a new learning rate (captured again) and a short batch (run eagerly)."""
    gen = torch.Generator().manual_seed(0)
    batch = lambda n=8: (torch.rand(n, 1, 8, 8, generator=gen), torch.randint(0, 10, (n,), generator=gen))  # noqa: E731
    plan = [(batch(), batch(), 0.025) for _ in range(6)] + [(batch(), batch(), 0.02) for _ in range(2)]
    plan.append((batch(4), batch(4), 0.02))  # a short last batch
    searches = []
    for graphed in (False, True):
        searched = space("nb201", channels=4, cells_per_stage=1)
        search = strategy("darts", searched, seed=0, trainer=search_trainer("darts", batch_size=8, channels_last=False),
                          order="second")
        search.setup(SearchContext(CPU, lambda: dataset("digits", max_train_samples=32)))
        if graphed:
            _graphed(search.runner)
            search.body = recording(search.body)
        logits = [search.bilevel_step(train_, val, lr, update_arch=True).clone() for train_, val, lr in plan]
        searches.append((search, logits))
    (eager, eager_logits), (graphed, graphed_logits) = searches
    assert graphed.runner.captures() == 2  # after 3 warm-up steps, once per learning rate
    for a, b in zip(eager_logits, graphed_logits):
        torch.testing.assert_close(b, a)
    for key, value in eager.net.state_dict().items():
        torch.testing.assert_close(graphed.net.state_dict()[key], value)


def test_the_supervised_step_replayed_from_a_graph_trains_as_the_eager_one(fake_cuda, monkeypatch):
    """train() with graphs (forced on, as a GPU resolves them): 3 warm-up steps, a capture per epoch (a
    new lr), replays, and the short last batch run eagerly; the same weights and history as eager."""
    data = dataset("digits", max_train_samples=100)
    nb201 = space("nb201", channels=4, cells_per_stage=1)
    arch = nb201.from_str("|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
    real_resolve, real_step = steps.resolve, loop.SupervisedStep

    def trained(graphed: bool) -> tuple[dict[str, torch.Tensor], list[dict[str, float]], list[StepRunner]]:
        runners: list[StepRunner] = []

        def resolving(*args, **kwargs):
            how = real_resolve(*args, **kwargs)
            return dataclasses.replace(how, cuda_graphs=True) if graphed else how

        class Recorded(real_step):
            def __init__(self, runner, *args):
                super().__init__(runner, *args)
                runners.append(runner)
                self.body = recording(super().__call__)

            def __call__(self, *args):
                return self.body(*args)

        monkeypatch.setattr(steps, "resolve", resolving)
        monkeypatch.setattr(loop, "SupervisedStep", Recorded)
        torch.manual_seed(0)
        model = nb201.build_network(arch, 10, 1, 8)
        history = train(model, data, trainer("proxy", epochs=2, batch_size=16), CPU, seed=0)
        return model.state_dict(), history, runners

    eager, eager_history, _ = trained(False)
    graphed, graphed_history, (runner,) = trained(True)
    assert runner.captures() == 2  # once an epoch (the learning rate is a captured constant)
    for key, value in eager.items():
        torch.testing.assert_close(graphed[key], value)
    for ours, theirs in zip(graphed_history, eager_history):
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"]) and ours["val_accuracy"] == theirs["val_accuracy"]


# --- torch.compile of the bilevel step ---------------------------------------------------------------------
def _bilevel_steps(name: str, order: str, compile_mode: str, batches: list[Any]) -> dict[str, Any]:
    """Train a tiny nb201 supernet for len(batches) bilevel steps; what each step computed and where it ended."""
    searched = space("nb201", channels=4, cells_per_stage=1)
    search = strategy(name, searched, seed=0, order=order,
                      trainer=search_trainer(name, batch_size=8, channels_last=False, compile=compile_mode))
    search.setup(SearchContext(CPU, lambda: dataset("digits", max_train_samples=32)))
    net = search.net
    logits = [search.bilevel_step(train_, val, 0.025, update_arch=True).clone() for train_, val in batches]
    return {"logits": logits,
            "arch_grads": [p.grad.clone() for p in net.arch_parameters()],
            "weight_grads": [p.grad.clone() for p in net.weight_parameters()],
            "state": {k: v.clone() for k, v in net.state_dict().items()},
            "genotype": net.derive(), "mode": search.runner.how.mode}


@pytest.fixture
def aot_eager(monkeypatch):
    """torch.compile's tracing and autograd without inductor's C++ code generation, which takes
    about 100 s for this supernet on the 2-core CI machine (the traced graphs are the same)."""
    monkeypatch.setattr(steps, "BACKEND", "aot_eager")
    yield
    torch._dynamo.reset()


@pytest.mark.slow
@pytest.mark.parametrize(("name", "order"), [("darts", "second"), ("pcdarts", "first")])
def test_compiled_step_equals_the_eager_step(aot_eager, name, order):
    gen = torch.Generator().manual_seed(0)
    batch = lambda: (torch.rand(8, 1, 8, 8, generator=gen), torch.randint(0, 10, (8,), generator=gen))  # noqa: E731
    batches = [(batch(), batch()) for _ in range(2)]
    eager = _bilevel_steps(name, order, "none", batches)
    torch._dynamo.utils.counters.clear()
    compiled = _bilevel_steps(name, order, "reduce-overhead", batches)
    assert compiled["mode"] == "reduce-overhead" and eager["mode"] == "none"  # what report.json's `compile` says
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
