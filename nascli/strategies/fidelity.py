"""Multi-fidelity search: train many candidates briefly, and only the best of them for longer.

A bracket of successive halving (Jamieson & Talwalkar, 2016) is a list of rungs: the first trains
`size` new candidates for `fidelity` epochs, each next one retrains the best 1/eta of the rung
before for eta times more epochs, up to the evaluator's full training. Hyperband (Li et al., JMLR
2018) runs brackets that trade more candidates for fewer epochs; BOHB (Falkner et al., ICML 2018)
draws the new candidates from a model instead of at random.

The strategy only names a fidelity (epochs) with each proposal; how a candidate is trained for
that many epochs is the evaluator's business (`Evaluator.max_fidelity`, `evaluate(arch, fidelity)`).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nascli.errors import ConfigError
from nascli.runtime import metrics
from nascli.runtime.run_report import markdown_table
from nascli.spaces.base import Arch, SearchSpace
from nascli.strategies.base import Artifacts, Objective, Proposal, SampleStrategy, SearchContext, scalar
from nascli.strategies.genes import Scored, best_first, fresh


@dataclass(frozen=True)
class Rung:
    """`size` candidates trained for `fidelity` epochs."""

    size: int
    fidelity: int


def brackets_of(min_fidelity: int, max_fidelity: int, eta: int) -> int:
    """s_max + 1: how many times eta fits between the lowest and the full fidelity, plus one."""
    return int(math.floor(math.log(max_fidelity / min_fidelity, eta) + 1e-9)) + 1


def bracket(s: int, size: int, max_fidelity: int, eta: int, min_fidelity: int = 1) -> list[Rung]:
    """Successive halving from `size` candidates at max_fidelity / eta^s epochs: rung i keeps
    floor(size / eta^i) of them and trains them for max_fidelity * eta^(i - s) epochs (rounded half up,
    at least min_fidelity), the last rung at the full fidelity."""
    rungs = []
    for i in range(s + 1):
        kept = int(size // eta**i)
        if kept < 1:
            break
        fidelity = max_fidelity if i == s else max(min_fidelity, int(max_fidelity * eta ** (i - s) + 0.5))
        rungs.append(Rung(kept, fidelity))
    return rungs


def hyperband(min_fidelity: int, max_fidelity: int, eta: int) -> list[list[Rung]]:
    """Hyperband's brackets s = s_max .. 0, bracket s starting ceil((s_max + 1) / (s + 1) * eta^s)
    candidates at max_fidelity / eta^s epochs (the paper's Algorithm 1, with R = max / min)."""
    count = brackets_of(min_fidelity, max_fidelity, eta)
    return [bracket(s, math.ceil(count / (s + 1) * eta**s), max_fidelity, eta, min_fidelity)
            for s in reversed(range(count))]


@dataclass(eq=False)  # compared by identity: a running bracket is one object
class Running:
    """One bracket being run: where it stands and what its current rung still owes."""

    number: int                 # counts on over rounds; the schedule's bracket number % len(schedule)
    rungs: list[Rung]
    rung: int = 0
    new: int = 0                # new candidates still to draw for the first rung
    promoted: deque[Arch] = field(default_factory=deque)  # promoted candidates still to propose
    pending: int = 0            # proposed at the current rung, not yet told
    scored: list[Scored] = field(default_factory=list)     # the current rung's results

    def has_work(self) -> bool:
        return bool(self.new or self.promoted)

    def rung_done(self) -> bool:
        return not self.has_work() and not self.pending


class FidelityStrategy(SampleStrategy):
    """What multi-fidelity strategies share: the full fidelity from the evaluator (or the YAML),
    new candidates from `ask()` (uniform, unless a subclass models where good ones lie), `observe`
    for every result, and `propose_at` to remember what a pending candidate is (its fidelity and
    where it belongs), since a tell names only the architecture."""

    metric = "val_accuracy"  # what the rows' objective is made of (from the context): a rung's best is in its direction

    def __init__(self, space: SearchSpace, seed: int, min_fidelity: int, max_fidelity: int | None, eta: int,
                 max_retries: int, warm_start_size: int) -> None:
        super().__init__(space, seed)
        if eta < 2:
            raise ConfigError(f"strategy.eta must be at least 2 (keep the best 1/eta), got {eta}.")
        if min_fidelity < 1 or (max_fidelity is not None and max_fidelity < min_fidelity):
            raise ConfigError(f"strategy.min_fidelity must be at least 1 and at most strategy.max_fidelity, got "
                              f"{min_fidelity} and {max_fidelity}.")
        self.min_fidelity, self.max_fidelity, self.eta = min_fidelity, max_fidelity, eta
        self.max_retries, self.warm_start_size = max_retries, warm_start_size
        self.full = 0  # the full fidelity, known at setup
        self._pending: dict[Arch, deque[tuple[int, Any]]] = {}  # arch -> (fidelity, where), oldest first

    def setup(self, context: SearchContext) -> None:
        self.metric = context.metric  # the rows' objective: its direction picks a rung's best
        full = self.max_fidelity or context.max_fidelity
        if full is None:
            raise ConfigError(f"strategy={self.name} trains candidates for fewer epochs first, so it needs an "
                              f"evaluator that can (evaluator=train); this evaluator scores only one fidelity.")
        if full < self.min_fidelity:
            raise ConfigError(f"strategy.min_fidelity={self.min_fidelity} is above the full training "
                              f"({full} epochs: trainer.epochs or strategy.max_fidelity).")
        self.full = full

    def initial_size(self) -> int:
        return self.warm_start_size

    def ask(self) -> Arch:
        """A new candidate for the lowest rung (uniform; a meta prior's first)."""
        return self.next_initial() or fresh(lambda: self.space.sample(self.rng), self.seen, self.max_retries)

    def propose_at(self, arch: Arch, fidelity: int, where: Any, columns: dict[str, Any], info: str) -> Proposal:
        """A proposal of `arch` at `fidelity`, remembered as pending with `where` it belongs."""
        self._pending.setdefault(arch, deque()).append((fidelity, where))
        return Proposal(arch, fidelity=fidelity, columns=columns, info=info)

    def told(self, arch: Arch) -> tuple[int, Any]:
        """(fidelity, where) of the pending proposal of `arch` a tell answers (the oldest, should the
        same architecture be pending twice), no longer pending."""
        queue = self._pending.get(arch)
        if not queue:
            raise ValueError(f"{self.space.to_str(arch)} was told but is not pending: each proposal is told once.")
        fidelity, where = queue.popleft()
        if not queue:
            del self._pending[arch]
        return fidelity, where

    def observe(self, arch: Arch, fidelity: int, objective: Objective) -> None:
        """Every result as it comes (a model-based sampler learns from them)."""


class MultiFidelitySearch(FidelityStrategy):
    """Runs brackets of successive halving over and over (a new round when the last bracket ends)
    until the budget is spent. Promotion ranks by objective (NSGA-II's order for Pareto objectives);
    candidates that failed or broke a hard limit are never promoted.

    With several workers the brackets run concurrently, as BOHB's paper runs them (Falkner et al.,
    section 4.2): a proposal comes from the oldest bracket that has one; when every running bracket's
    rung is out waiting for results, the next bracket of the schedule starts. A rung is promoted
    when all its results are in. One worker runs the brackets one after the other, as before."""

    def __init__(self, space: SearchSpace, seed: int, min_fidelity: int, max_fidelity: int | None, eta: int,
                 max_retries: int, warm_start_size: int) -> None:
        super().__init__(space, seed, min_fidelity, max_fidelity, eta, max_retries, warm_start_size)
        self.schedule: list[list[Rung]] = []
        self.running: list[Running] = []  # brackets started and not finished, oldest first
        self.started = 0                  # brackets started in all

    # --- the schedule ------------------------------------------------------------------------
    @abstractmethod
    def brackets(self, max_fidelity: int) -> list[list[Rung]]:
        """The brackets of one round."""

    def setup(self, context: SearchContext) -> None:
        super().setup(context)
        self.schedule = self.brackets(self.full)

    def propose(self) -> Proposal:
        bracket = next((b for b in list(self.running) if self._ready(b)), None) or self._start()
        rung = bracket.rungs[bracket.rung]
        if bracket.new:
            bracket.new -= 1
            arch = self.ask()
        else:
            arch = bracket.promoted.popleft()
        bracket.pending += 1
        number = bracket.number % len(self.schedule)
        return self.propose_at(arch, rung.fidelity, bracket, {"bracket": bracket.number, "rung": bracket.rung},
                               f"bracket {number} rung {bracket.rung}: {rung.fidelity} epochs")

    def tell(self, arch: Arch, objective: Objective) -> None:
        fidelity, bracket = self.told(arch)
        bracket.pending -= 1
        bracket.scored.append((arch, objective))
        self.observe(arch, fidelity, objective)

    def _ready(self, bracket: Running) -> bool:
        """Whether `bracket` has a candidate to propose now, promoting its finished rungs (a bracket
        that ends leaves `running`)."""
        while bracket.rung_done():
            survivors = [m for m in best_first(bracket.scored) if math.isfinite(scalar(m[1]))]
            if bracket.rung + 1 >= len(bracket.rungs) or not survivors:
                self.running.remove(bracket)
                return False
            bracket.rung += 1
            bracket.promoted.extend(arch for arch, _ in survivors[:bracket.rungs[bracket.rung].size])
            bracket.scored = []
        return bracket.has_work()

    def _start(self) -> Running:
        """The schedule's next bracket, running."""
        rungs = self.schedule[self.started % len(self.schedule)]
        bracket = Running(self.started, rungs, new=rungs[0].size)
        self.started += 1
        self.running.append(bracket)
        return bracket

    # --- what the run directory shows ---------------------------------------------------------
    def artifacts(self, rows: Sequence[dict[str, Any]], final: bool) -> Artifacts:
        if not final:
            return Artifacts()
        plan = [{"bracket": b, "rung": i, "candidates": r.size, "epochs": r.fidelity}
                for b, rungs in enumerate(self.schedule) for i, r in enumerate(rungs)]
        run: dict[tuple[int, int], dict[str, Any]] = {}
        for row in rows:
            if row.get("rung") is not None:
                entry = run.setdefault((row["bracket"], row["rung"]), {
                    "bracket": row["bracket"], "rung": row["rung"], "epochs": row["fidelity"], "trained": 0, "best": None})
                entry["trained"] += 1
                if row.get("objective") is not None and (entry["best"] is None or metrics.better(
                        self.metric, row["objective"], entry["best"])):
                    entry["best"] = row["objective"]
        trained = Counter(row["fidelity"] for row in rows
                          if row.get("fidelity") is not None and row.get("val_accuracy") is not None)
        spent = [{"epochs": f, "trained": n, "epochs in all": f * n} for f, n in sorted(trained.items())]
        text = (f"Brackets of one round (eta={self.eta}); the result is the best candidate at the highest "
                f"fidelity reached.\n\n{markdown_table(plan, list(plan[0]))}\n\nTrained at each fidelity:\n\n"
                + (markdown_table(spent, list(spent[0])) if spent else "none"))
        return Artifacts(files={"brackets.json": {"schedule": plan, "rungs_run": list(run.values())}},
                         sections=[("Multi-fidelity schedule", text)])
