"""The ``level`` scheduler: one graph level at a time, a barrier between levels (the seeds' algorithm)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

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
        for level in run.graph.levels:
            if len(level) == 1:
                await run.execute(level[0])  # alone between two barriers: no slot to share
                continue
            todo = iter(level)
            workers = min(len(level), run.max_concurrency or len(level))
            async with trio.open_nursery() as nursery:
                for _ in range(workers):
                    nursery.start_soon(self._worker, run, todo)

    @staticmethod
    async def _worker(run: dagmill.Run, todo: Iterator[int]) -> None:
        """Hold one slot of the run's limiter and start the level's next node until none is left."""
        async with run.limiter:
            for i in todo:
                await run.execute(i)


@dagmill.hookimpl
def dagmill_schedulers() -> Sequence[type[dagmill.Scheduler]]:
    return [LevelScheduler]
