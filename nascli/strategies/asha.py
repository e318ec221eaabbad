"""Asynchronous successive halving, ASHA (Li et al., MLSys 2020): successive halving without its
synchronisation points, so that every worker is always busy.

Rungs train at min_fidelity, eta times more, ..., up to the full fidelity (sh's rungs). Whenever a
worker frees, the highest rung with a candidate in the top 1/eta of its finished results that has
not been promoted yet gives that candidate, one rung up; if none does, a new candidate starts at
the lowest rung. A promotion may be one that waiting for the whole rung would not have made (the
paper's trade: a few wrong promotions for no idle worker); as results come in, the rung's top
1/eta hardens. One worker runs the same rule, one result at a time.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

from nascli.registry import STRATEGIES
from nascli.runtime.run_report import markdown_table
from nascli.spaces.base import Arch
from nascli.strategies.base import Artifacts, Objective, Proposal, SearchContext, scalar
from nascli.strategies.fidelity import FidelityStrategy, bracket, brackets_of
from nascli.strategies.genes import Scored, best_first


@STRATEGIES.register("asha")
class ASHA(FidelityStrategy):
    """Promote as soon as a rung allows, else start a new candidate at the lowest rung; runs until
    the budget ends. Candidates that failed or broke a hard limit are never promoted."""

    def setup(self, context: SearchContext) -> None:
        super().setup(context)
        s = brackets_of(self.min_fidelity, self.full, self.eta) - 1
        self.fidelities = [rung.fidelity for rung in bracket(s, self.eta**s, self.full, self.eta, self.min_fidelity)]
        self.finished: list[list[Scored]] = [[] for _ in self.fidelities]   # each rung's results, in arrival order
        self.promoted: list[set[Arch]] = [set() for _ in self.fidelities]   # who has left each rung upwards
        # each rung's finite results best first, as (-objective, arrival, arch): kept sorted as they
        # arrive, since a rung is ranked at every proposal (Pareto points are ranked afresh instead)
        self.ranked: list[list[tuple[float, int, Arch]]] = [[] for _ in self.fidelities]

    def propose(self) -> Proposal:
        for rung in reversed(range(len(self.fidelities) - 1)):
            arch = self._promotable(rung)
            if arch is not None:
                self.promoted[rung].add(arch)
                return self._at(arch, rung + 1)
        return self._at(self.ask(), 0)

    def _promotable(self, rung: int) -> Arch | None:
        """The best candidate of the rung's top 1/eta (by its finished results) not promoted yet."""
        results = self.finished[rung]
        count = len(results) // self.eta
        if results and isinstance(results[0][1], tuple):
            top = [arch for arch, _ in best_first([m for m in results if math.isfinite(scalar(m[1]))])[:count]]
        else:
            top = [arch for _, _, arch in self.ranked[rung][:count]]
        return next((arch for arch in top if arch not in self.promoted[rung]), None)

    def _at(self, arch: Arch, rung: int) -> Proposal:
        fidelity = self.fidelities[rung]
        return self.propose_at(arch, fidelity, rung, {"rung": rung}, f"rung {rung}: {fidelity} epochs")

    def tell(self, arch: Arch, objective: Objective) -> None:
        fidelity, rung = self.told(arch)
        if not isinstance(objective, tuple) and math.isfinite(objective):
            bisect.insort(self.ranked[rung], (-objective, len(self.finished[rung]), arch))
        self.finished[rung].append((arch, objective))
        self.observe(arch, fidelity, objective)

    def artifacts(self, rows: Sequence[dict[str, Any]], final: bool) -> Artifacts:
        if not final:
            return Artifacts()
        table = []
        for rung, fidelity in enumerate(self.fidelities):
            scores = [scalar(v) for _, v in self.finished[rung] if math.isfinite(scalar(v))]
            table.append({"rung": rung, "epochs": fidelity, "trained": len(self.finished[rung]),
                          "promoted": len(self.promoted[rung]), "best": f"{max(scores):.2f}" if scores else "-"})
        text = (f"Rungs (eta={self.eta}): a candidate was promoted as soon as it was in the top 1/{self.eta} of "
                f"its rung's results; the result is the best candidate at the highest fidelity reached.\n\n"
                + markdown_table(table, list(table[0])))
        return Artifacts(files={"rungs.json": table}, sections=[("Asynchronous successive halving", text)])
