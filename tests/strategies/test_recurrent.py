"""One-shot and sample-based search of the recurrent cell space (search_space=rnn) on generated
text: DARTS' second-order gradient through the recurrent supernet, the hidden states its bilevel
step carries, and DARTS (both orders), GDAS, ENAS and a sample-based strategy end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from configured import CPU, trainer
from nasrun import read_json, read_trials, run
from textcorpus import labelled_csv, lm_corpus
from torch.func import functional_call

from nascli.runtime.config import build_option
from nascli.strategies.bilevel import BILEVEL_LIMITS, BilevelStep, unrolled_arch_grads
from nascli.training.steps import MicroBatch, StepRunner, resolve
from nascli.training.text import recurrent
from nascli.weight_sharing.mixing import Softmax
from nascli.weight_sharing.supernet import build_supernet

TINY = {"nodes": 2, "emsize": 6, "nhid": 6, "dropout": 0.0, "dropouth": 0.0, "dropoutx": 0.0, "dropouti": 0.0}


def test_second_order_gradient_through_the_recurrent_cell_matches_finite_differences() -> None:
    """DARTS' architecture gradient (one unrolled SGD step, finite-difference Hessian-vector
    product) against central differences of the exactly unrolled validation loss."""
    torch.manual_seed(0)
    space = build_option("search_space", "rnn", TINY)
    net = build_supernet(space, 7, 7, 4, Softmax()).double()
    with torch.no_grad():
        net.alpha("cell").normal_()
    weights = dict(p for p in net.named_parameters() if not p[0].startswith("alpha_"))
    train = (torch.randint(1, 7, (3, 4)), torch.randint(1, 7, (3, 4)))
    val = (torch.randint(1, 7, (3, 4)), torch.randint(1, 7, (3, 4)))
    lr = 0.5
    (ours,) = unrolled_arch_grads(net, weights, [net.alpha("cell")], train, val, lr)

    def loss(params: dict, batch: tuple) -> torch.Tensor:  # in float64 throughout (loss_on rounds to float32)
        logits = functional_call(net, params, (batch[0],))
        return torch.nn.functional.cross_entropy(logits.reshape(-1, 7), batch[1].reshape(-1))

    def unrolled(alpha: torch.Tensor) -> float:
        """L_val(w - lr * grad_w L_train(w, alpha), alpha), exactly."""
        grads = torch.autograd.grad(loss({**weights, "alpha_cell": alpha}, train), list(weights.values()))
        stepped = {n: w - lr * g for (n, w), g in zip(weights.items(), grads)}
        return loss({**stepped, "alpha_cell": alpha}, val).item()

    first = unrolled_arch_grads(net, weights, [net.alpha("cell")], train, val, 0.0)[0]
    alpha, h = net.alpha("cell").detach(), 1e-5
    for row, op in [(0, 1), (1, 2), (2, 4), (2, 0)]:
        step = torch.zeros_like(alpha)
        step[row, op] = h
        numeric = (unrolled(alpha + step) - unrolled(alpha - step)) / (2 * h)
        torch.testing.assert_close(ours[row, op].item(), numeric, rtol=1e-3, atol=1e-8)
        assert abs(first[row, op].item() - numeric) > 1e-6  # the unrolled term matters here


@pytest.mark.parametrize("order", ["first", "second"])
def test_the_bilevel_step_carries_a_hidden_state_per_stream(order: str) -> None:
    """A language model reads its training and validation streams on, each from its own last batch, as
    the DARTS reference's search carries `hidden` and `hidden_valid`; the second-order step's extra
    training forwards leave the training stream where it was. Nothing learns here (both learning
    rates 0), so each stream's state after two steps is what reading that stream alone gives."""
    torch.manual_seed(0)
    net = build_supernet(build_option("search_space", "rnn", {**TINY, "tar": 0.0}), 7, 7, 4, Softmax())
    weights = {n: p for n, p in net.named_parameters() if not n.startswith("alpha_")}
    step = BilevelStep(StepRunner(resolve(trainer("proxy"), CPU, limits=BILEVEL_LIMITS), CPU), net, weights,
                       torch.optim.SGD(weights.values(), lr=0.0), torch.optim.SGD(net.arch_parameters(), lr=0.0),
                       order, momentum=0.0, weight_decay=0.0, grad_clip=0.0, carry=True)
    gen = torch.Generator().manual_seed(1)
    steps = [[torch.randint(1, 7, (3, 5), generator=gen) for _ in range(4)] for _ in range(2)]  # train x, y; val x, y
    net.train()
    for batch in steps:
        step.runner.run(step, [MicroBatch(tuple(batch), 1.0)], key=(0.0, True))  # lr 0: the unrolled weights are these

    def read_alone(inputs: list[torch.Tensor]) -> torch.Tensor:
        cell = recurrent(net)
        cell.carry = True
        cell.reset()
        for x in inputs:
            net(x)
        state, cell.carry = cell.hidden, False
        cell.reset()
        return state

    torch.testing.assert_close(step.streams.states["train"], read_alone([steps[0][0], steps[1][0]]))
    torch.testing.assert_close(step.streams.states["valid"], read_alone([steps[0][2], steps[1][2]]))
    assert not torch.equal(read_alone([steps[1][0]]), read_alone([steps[0][0], steps[1][0]]))  # carrying matters
    step.new_epoch()
    assert step.streams.states == {}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lm_corpus(tmp_path_factory.mktemp("corpus"), (60, 12, 12))


SEARCH = ["search", "search_space=rnn", "dataset=text_lm", "debug=smoke", "plots=false", "trainer.batch_size=4",
          "dataset.bptt=8"]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["darts", "darts strategy.order=second", "gdas", "enas", "spos", "evolution"])
def test_every_kind_of_strategy_searches_the_recurrent_cell(strategy: str, corpus: Path, tmp_path: Path) -> None:
    result = run(*SEARCH, f"dataset.root={corpus}", *f"strategy={strategy}".split(), run_dir=tmp_path / "run")
    assert result.code == 0, result.text
    record = read_json(tmp_path / "run" / "genotype.json")
    assert record["search_space"] == "rnn" and record["arch_str"].startswith("Genotype(recurrent=[")
    rows = read_trials(tmp_path / "run")
    assert rows and all(row["status"] == "completed" for row in rows)
    assert all(1.0 < float(row["val_perplexity"]) < 40.0 for row in rows)  # every strategy scores by perplexity
    assert read_json(tmp_path / "run" / "report.json")["objective_metric"]["direction"] == "min"


@pytest.mark.slow
def test_a_text_classification_search_reports_accuracy(tmp_path: Path) -> None:
    texts = labelled_csv(tmp_path / "reviews.csv", n=60, columns=("text", "label"))
    result = run("search", "search_space=rnn", "dataset=text_classification", f"dataset.path={texts}",
                 "dataset.max_length=16", "debug=smoke", "plots=false", "strategy=random", run_dir=tmp_path / "run")
    assert result.code == 0, result.text
    rows = read_trials(tmp_path / "run")
    assert len(rows) == 3 and all(0.0 <= float(r["val_accuracy"]) <= 100.0 for r in rows)
