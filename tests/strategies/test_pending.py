"""Sample-based strategies with several proposals in flight (search.workers > 1), driven by hand as
the parallel engine drives them: propose until WAIT or the workers are full, then tell one pending
result, chosen at random (results arrive in any order). And with one worker, today's trials."""

from __future__ import annotations

import hashlib
import math
import random

import numpy as np
import pytest

from nascli.registry import STRATEGIES
from nascli.runtime.config import build_option
from nascli.strategies.base import WAIT, SearchContext
from nascli.strategies.bo import HammingGP

SPACE = build_option("search_space", "nb201")
SAMPLE = [name for name, cls in STRATEGIES.items() if not cls.measures_candidates]


def objective(arch, fidelity: int | None = None) -> float:
    """A task where 3x3 convolutions help and pooling hurts, a little better with more epochs."""
    return 60.0 + 5.0 * arch.count("nor_conv_3x3") - 2.0 * arch.count("avg_pool_3x3") + (fidelity or 0)


def built(name: str, seed: int = 0, **options):
    """A strategy built and set up as the engine does, for an evaluator that trains up to 9 epochs."""
    strategy = build_option("strategy", name, options, space=SPACE, seed=seed)
    strategy.setup(SearchContext("cpu", lambda: None, max_fidelity=9))
    return strategy


def drive(strategy, workers: int, proposals: int, seed: int = 0, score=objective):
    """Up to `workers` proposals in flight; a random one of them is told whenever the strategy
    waits or the workers are full. Returns (proposals in order, how often it waited)."""
    rng, pending, made, waits = random.Random(seed), [], [], 0
    while len(made) < proposals or pending:
        proposal = strategy.propose() if len(made) < proposals and len(pending) < workers else None
        if proposal is WAIT:
            assert pending, "WAIT only while a proposal is in flight"
            waits += 1
        if proposal is None or proposal is WAIT:
            done = pending.pop(rng.randrange(len(pending)))
            strategy.tell(done.arch, score(done.arch, done.fidelity))
            continue
        pending.append(proposal)
        made.append(proposal)
    return made, waits


@pytest.mark.parametrize("name", SAMPLE)
def test_with_four_workers_no_candidate_is_proposed_twice(name: str) -> None:
    made, _ = drive(built(name), workers=4, proposals=40)
    keys = [(p.arch, p.fidelity) for p in made]  # a promotion is the same arch at a new fidelity
    assert len(set(keys)) == len(keys)
    assert all(SPACE.validate(p.arch) == p.arch for p in made)


# Alternating propose/tell (one worker) gives the sequences of main before the parallel engine
# (cfec9ea): the digest of 40 proposals, seed 3, every 11th result a failure (-inf), recorded there.
ONE_WORKER = {"bo": "d6b911f63450de0e", "bohb": "e5cf990d8f6fa999", "evolution": "d462c33354e71f6d",
              "genetic": "929c52ec690cc1cc", "hyperband": "cc834874f2faeadc", "random": "855ff5da8ddb6aa6",
              "reinforce": "6368f6e6ea7bb236", "sh": "ba4b53ec23a87b91"}


@pytest.mark.parametrize("name", sorted(ONE_WORKER))
def test_one_worker_gives_todays_proposals(name: str) -> None:
    strategy, asked = built(name, seed=3), []
    for i in range(40):
        proposal = strategy.propose()
        asked.append(f"{SPACE.to_str(proposal.arch)}@{proposal.fidelity}")
        strategy.tell(proposal.arch, objective(proposal.arch, proposal.fidelity) + (-math.inf if i % 11 == 5 else 0))
    assert hashlib.sha256("\n".join(asked).encode()).hexdigest()[:16] == ONE_WORKER[name]


def test_genetic_waits_for_its_generation() -> None:
    genetic = built("genetic", population=4, elites=1)
    generation = [genetic.propose() for _ in range(4)]
    assert genetic.propose() is WAIT  # generation 0 is out
    for proposal in generation[:3]:
        genetic.tell(proposal.arch, objective(proposal.arch))
    assert genetic.propose() is WAIT  # one child still out
    genetic.tell(generation[3].arch, objective(generation[3].arch))
    children = [genetic.propose() for _ in range(3)]  # generation 1: 3 children besides the elite
    assert WAIT not in children and genetic.propose() is WAIT


def test_reinforce_makes_one_policy_step_per_batch_in_flight() -> None:
    reinforce, steps = built("reinforce"), []
    learn = reinforce.learner.step
    reinforce.learner.step = lambda genes, rewards: steps.append(len(genes)) or learn(genes, rewards)
    batch = [reinforce.propose() for _ in range(3)]
    reinforce.tell(batch[1].arch, 70.0)
    assert reinforce.propose() is WAIT and steps == []  # the batch has begun to be told
    reinforce.tell(batch[2].arch, -math.inf)  # a failed sample: no reward
    reinforce.tell(batch[0].arch, 60.0)
    assert steps == [2]  # one step on the batch's finite rewards
    assert reinforce.propose() is not WAIT


def test_the_kriging_believer_keeps_the_mean_and_shrinks_the_variance_at_pending_points() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(30, 6))
    y = x.sum(1) + rng.normal(0, 0.5, 30)
    gp = HammingGP().fit(x, y)
    pending, probe = rng.integers(0, 5, size=(3, 6)), rng.integers(0, 5, size=(20, 6))
    believed = gp.predict(pending)[0]
    believer = HammingGP().fit(np.concatenate([x, pending]), np.concatenate([y, believed]), gp.hyper)
    assert believer.predict(probe)[0] == pytest.approx(gp.predict(probe)[0], abs=0.1)
    assert (believer.predict(pending)[1] < 0.5 * gp.predict(pending)[1]).all()


def test_bo_proposes_around_what_is_in_flight_and_forgets_it_once_told() -> None:
    bo = built("bo", initial=4, random_candidates=20)
    first = [bo.propose() for _ in range(4)]
    assert bo.pending == [p.arch for p in first]
    for proposal in first[:2]:
        bo.tell(proposal.arch, objective(proposal.arch))
    more = [bo.propose() for _ in range(3)]  # from the GP on 2 results and 2 + 2 believed pending ones
    assert len({p.arch for p in first + more}) == 7 and len(bo.pending) == 5


def test_hyperband_starts_the_next_bracket_while_a_rung_waits() -> None:
    sh = built("hyperband", max_fidelity=4, eta=2)  # brackets 4x1 -> 2x2 -> 1x4, 3x2 -> 1x4, 3x4
    first = [sh.propose() for _ in range(4)]
    assert [(p.columns["bracket"], p.fidelity) for p in first] == [(0, 1)] * 4
    second = sh.propose()
    assert (second.columns["bracket"], second.fidelity) == (1, 2)  # bracket 0's rung is out
    scores = [50.0, 80.0, 70.0, 60.0]
    for i in (2, 0, 3, 1):  # results in any order
        sh.tell(first[i].arch, scores[i])
    promoted = [sh.propose() for _ in range(2)]  # the oldest bracket first: its best two, 2 epochs
    assert [(p.arch, p.fidelity, p.columns["bracket"]) for p in promoted] == [
        (first[1].arch, 2, 0), (first[2].arch, 2, 0)]
    with pytest.raises(ValueError, match="not pending"):
        sh.tell(first[1].arch, 1.0) or sh.tell(first[1].arch, 1.0)  # told once at 2 epochs, not twice


def test_asha_promotes_as_soon_as_a_candidate_is_in_its_rungs_top_third() -> None:
    asha = built("asha", eta=3)  # rungs of 1, 3 and 9 epochs
    assert asha.fidelities == [1, 3, 9]
    a, b, c = (asha.propose() for _ in range(3))
    assert {a.fidelity, b.fidelity, c.fidelity} == {1}
    asha.tell(c.arch, 60.0)
    asha.tell(a.arch, 50.0)
    d = asha.propose()  # two results: a third of them is nobody yet, so a new candidate
    assert d.fidelity == 1 and d.arch not in {a.arch, b.arch, c.arch}
    asha.tell(b.arch, 70.0)
    up = asha.propose()  # three results: b is the top third, promoted though d is still out
    assert (up.arch, up.fidelity, up.columns["rung"]) == (b.arch, 3, 1)
    e = asha.propose()  # b already promoted: a new candidate
    assert e.fidelity == 1
    asha.tell(d.arch, 80.0)
    assert (asha.propose().arch, asha.fidelities[1]) == (d.arch, 3)  # 4 results: top 1 is d, promoted
    asha.tell(e.arch, -math.inf)  # failed: counts in the rung, never promoted
    asha.tell(b.arch, 75.0)  # b at 3 epochs: alone in rung 1, not yet promoted to 9
    for _ in range(2):
        assert asha.propose().fidelity == 1
    assert len(asha.finished[0]) == 5 and asha.promoted[0] == {b.arch, d.arch}


def test_asha_with_many_workers_reaches_the_top_rung() -> None:
    asha = built("asha", eta=3)
    made, waits = drive(asha, workers=8, proposals=120, seed=1)
    assert waits == 0  # ASHA never leaves a worker idle
    top = [p for p in made if p.fidelity == 9]
    assert top and all(p.arch in asha.promoted[1] for p in top)
    # promoted ones are better than the rung they left: the lowest rung's mean is beaten
    low = [objective(p.arch) for p in made if p.fidelity == 1]
    assert sum(objective(p.arch) for p in top) / len(top) > sum(low) / len(low) + 5
