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
from dataclasses import dataclass
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


class MultiFidelitySearch(SampleStrategy):
    """Runs brackets of successive halving over and over (a new round when the last bracket ends)
    until the budget is spent. New candidates come from `ask()`: uniform samples, unless a subclass
    models where good ones lie. Promotion ranks by objective (NSGA-II's order for Pareto objectives);
    candidates that failed or broke a hard limit are never promoted."""

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
        self.schedule: list[list[Rung]] = []
        self._bracket, self._rung = -1, 0      # position in the schedule (bracket counts on over rounds)
        self._new = 0                           # candidates still to draw for the current first rung
        self._promoted: deque[Arch] = deque()   # promoted candidates still to train at the current rung
        self._scored: list[Scored] = []         # the current rung's results

    # --- the schedule ------------------------------------------------------------------------
    @abstractmethod
    def brackets(self, max_fidelity: int) -> list[list[Rung]]:
        """The brackets of one round."""

    def setup(self, context: SearchContext) -> None:
        self.metric = context.metric  # the rows' objective: its direction picks a rung's best
        full = self.max_fidelity or context.max_fidelity
        if full is None:
            raise ConfigError(f"strategy={self.name} trains candidates for fewer epochs first, so it needs an "
                              f"evaluator that can (evaluator=train); this evaluator scores only one fidelity.")
        if full < self.min_fidelity:
            raise ConfigError(f"strategy.min_fidelity={self.min_fidelity} is above the full training "
                              f"({full} epochs: trainer.epochs or strategy.max_fidelity).")
        self.schedule = self.brackets(full)

    def initial_size(self) -> int:
        return self.warm_start_size

    def ask(self) -> Arch:
        """A new candidate for a bracket's first rung (uniform; a meta prior's first)."""
        return self.next_initial() or fresh(lambda: self.space.sample(self.rng), self.seen, self.max_retries)

    def _current(self) -> Rung:
        return self.schedule[self._bracket % len(self.schedule)][self._rung]

    def propose(self) -> Proposal:
        while not self._new and not self._promoted:
            self._advance()
        rung = self._current()
        if self._new:
            self._new -= 1
            arch = self.ask()
        else:
            arch = self._promoted.popleft()
        number = self._bracket % len(self.schedule)
        return Proposal(arch, fidelity=rung.fidelity, columns={"bracket": self._bracket, "rung": self._rung},
                        info=f"bracket {number} rung {self._rung}: {rung.fidelity} epochs")

    def tell(self, arch: Arch, objective: Objective) -> None:
        self._scored.append((arch, objective))
        self.observe(arch, self._current().fidelity, objective)

    def observe(self, arch: Arch, fidelity: int, objective: Objective) -> None:
        """Every result as it comes (a model-based sampler learns from them)."""

    def _advance(self) -> None:
        """The current rung is done: promote its best to the next rung, or start the next bracket."""
        if self._bracket >= 0:
            rungs = self.schedule[self._bracket % len(self.schedule)]
            survivors = [m for m in best_first(self._scored) if math.isfinite(scalar(m[1]))]
            if self._rung + 1 < len(rungs) and survivors:
                self._rung += 1
                self._promoted.extend(arch for arch, _ in survivors[:rungs[self._rung].size])
                self._scored = []
                return
        self._bracket, self._rung, self._scored = self._bracket + 1, 0, []
        self._new = self._current().size

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
