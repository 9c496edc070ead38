"""The ``sequential`` scheduler: topological order, one node at a time (the debugging fallback)."""

from __future__ import annotations

from collections.abc import Sequence

import dagmill


class SequentialScheduler(dagmill.Scheduler):
    """Runs nodes one at a time in ``run.graph.order``."""

    name = "sequential"
    description = "topological order, one node at a time (for debugging)"

    async def run(self, run: dagmill.Run) -> None:
        execute = run.execute
        for i in run.graph.order:
            await execute(i)


@dagmill.hookimpl
def dagmill_schedulers() -> Sequence[type[dagmill.Scheduler]]:
    return [SequentialScheduler]
