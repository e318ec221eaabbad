"""The LSTM controller and REINFORCE: normalised log-probabilities, gradient sign, determinism, valid
DARTS samples, replay."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from configured import space, strategy

from nascli.strategies.controller import Controller, Reinforce, torch_generator



@pytest.mark.parametrize("tanh_constant", [None, 1.1])
def test_sequence_probabilities_sum_to_one(tanh_constant) -> None:
    cards = [2, 3, 2]
    controller = Controller(cards, hidden=8, temperature=1.0, tanh_constant=tanh_constant,
                            generator=torch_generator(0), init_range=1.0)
    every = torch.tensor(list(itertools.product(*(range(c) for c in cards))))
    log_prob, entropy = controller.evaluate(every)
    assert math.isclose(float(log_prob.detach().exp().sum()), 1.0, rel_tol=1e-5)
    assert bool((entropy > 0).all())


def test_samples_follow_the_policy() -> None:
    controller = Controller([3], hidden=4, temperature=1.0, tanh_constant=None, generator=torch_generator(0),
                            init_range=2.0)
    draws = controller.sample(20000, torch_generator(1))[:, 0]
    freq = torch.bincount(draws, minlength=3).float() / len(draws)
    probs = controller.evaluate(torch.tensor([[0], [1], [2]]))[0].exp()
    assert torch.allclose(freq, probs.detach(), atol=0.02)


@pytest.mark.parametrize("reward, direction", [(1.0, 1), (-1.0, -1)])
def test_reinforce_step_moves_probability_with_the_advantage(reward, direction) -> None:
    controller = Controller([5] * 6, hidden=16, generator=torch_generator(0))
    learner = Reinforce(controller, lr=0.01, entropy_weight=0.0)
    learner.baseline = 0.0
    genes = [[0, 1, 2, 3, 4, 0]]
    before = float(controller.evaluate(torch.tensor(genes))[0].detach())
    learner.step(genes, [reward])
    after = float(controller.evaluate(torch.tensor(genes))[0].detach())
    assert (after - before) * direction > 0


def test_baseline_is_a_moving_average() -> None:
    learner = Reinforce(Controller([2, 2], hidden=4), baseline_decay=0.9)
    learner.step([[0, 1]], [1.0])
    assert learner.baseline == 1.0
    learner.step([[0, 1]], [2.0])
    assert math.isclose(learner.baseline, 1.1)


def test_search_is_deterministic_and_learns_toward_rewarded_ops() -> None:
    nb201 = space("nb201")

    def run(seed: int) -> list:
        search, asked = strategy("reinforce", nb201, seed=seed, lr=0.1), []
        for _ in range(40):
            arch = search.ask()
            search.tell(arch, 10.0 * sum(op == "nor_conv_3x3" for op in arch))
            asked.append(arch)
        return asked

    first = run(0)
    assert first == run(0) != run(1)
    convs = [sum(op == "nor_conv_3x3" for op in arch) for arch in first]
    assert sum(convs[-10:]) > sum(convs[:10])


def test_controller_samples_only_valid_darts_architectures() -> None:
    darts = space("darts")
    search = strategy("reinforce", darts, seed=0)
    for _ in range(5):
        arch = search.ask()
        assert darts.is_valid(darts.encode(arch))
        search.tell(arch, 50.0)


def test_replay_restores_the_controller_so_asks_continue_identically() -> None:
    from nascli.search.resume import replay

    nb201 = space("nb201")
    full, asked = strategy("reinforce", nb201, seed=2, lr=0.05), []
    for i in range(12):
        arch = full.ask()
        full.tell(arch, float(i % 4))
        asked.append(arch)
    resumed = strategy("reinforce", nb201, seed=2, lr=0.05)
    rows = [{"trial": i, "arch_str": nb201.to_str(a), "objective": float(i % 4)} for i, a in enumerate(asked[:6])]
    replay(resumed, nb201, rows)
    again = []
    for i in range(6, 12):
        arch = resumed.ask()
        resumed.tell(arch, float(i % 4))
        again.append(arch)
    assert again == asked[6:]
