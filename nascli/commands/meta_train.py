"""nas meta-train: learn across tasks (not available yet; its config already composes)."""

from __future__ import annotations

from nascli.errors import NasError
from nascli.runtime.runner import RunContext


def run(ctx: RunContext) -> None:
    raise NasError(
        f"`nas meta-train` (method={ctx.cfg.method}) is not available yet in this version of nascli; "
        "its config composes (try `nas meta-train --cfg job`), and the methods land with the meta-learning release."
    )
