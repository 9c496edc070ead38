"""The ``level`` scheduler: one graph level at a time, a barrier between levels (the seeds' algorithm)."""

from __future__ import annotations

from collections.abc import Sequence

import trio

import dagmill


class LevelScheduler(dagmill.Scheduler):
    """Runs each level in one nursery under the run's ``CapacityLimiter``; nodes start in id order.

    Each level gets ``min(width, max_concurrency)`` worker tasks, each holding
    one token of ``run.limiter`` while it lives; the workers take the level's
    nodes from one iterator, so nodes start in sorted id order however trio
    orders the tasks. The level ends when its last node ends (the barrier).
    """

    name = "level"
    description = "level by level with a barrier between levels; deterministic (default)"

    async def run(self, run: dagmill.Run) -> None:
        execute = run.execute
        limiter = run.limiter
        for level in run.graph.levels:
            if len(level) == 1:
                await execute(level[0])  # alone between two barriers: no slot to share
                continue
            todo = iter(level)

            async def worker() -> None:
                async with limiter:
                    for i in todo:
                        await execute(i)

            workers = min(len(level), run.max_concurrency or len(level))
            async with trio.open_nursery() as nursery:
                for _ in range(workers):
                    nursery.start_soon(worker)


@dagmill.hookimpl
def dagmill_schedulers() -> Sequence[type[dagmill.Scheduler]]:
    return [LevelScheduler]
