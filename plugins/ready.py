"""The ``ready`` scheduler: a node starts as soon as its last predecessor ends, longest remaining path first."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import trio

import dagmill


class ReadyScheduler(dagmill.Scheduler):
    """Keeps up to ``max_concurrency`` workers busy from one priority queue of ready nodes.

    Priority is the longest estimated path from the node to the end of the
    graph (``run.remaining``: node estimates, or durations plugins learned
    from earlier runs), ties by id: the classic critical-path
    list scheduler. Nodes are ranked once, so the heap holds plain integers.
    With no limit (``max_concurrency=0``) every ready node starts at once.
    """

    name = "ready"
    description = "dynamic: a node starts when its last predecessor ends, critical path first"
    experimental = True

    async def run(self, run: dagmill.Run) -> None:
        graph = run.graph
        if not run.max_concurrency:
            await self._unlimited(run)
            return
        remaining, ids = run.remaining, graph.ids
        by_rank = sorted(range(len(graph)), key=lambda i: (-remaining[i], ids[i]))
        rank = [0] * len(graph)
        for r, i in enumerate(by_rank):
            rank[i] = r
        heap = sorted(rank[i] for i in graph.sources)
        idle = trio.lowlevel.ParkingLot()
        execute, push, pop = run.execute, heapq.heappush, heapq.heappop
        active = 0

        async def worker() -> None:
            nonlocal active
            while True:
                while not heap:
                    if not active:
                        idle.unpark_all()
                        return
                    await idle.park()
                i = by_rank[pop(heap)]
                active += 1
                ready = await execute(i)
                active -= 1
                if ready:
                    for s in ready:
                        push(heap, rank[s])
                    if len(ready) > 1 and idle:
                        idle.unpark(count=len(ready) - 1)

        async with trio.open_nursery() as nursery:
            for _ in range(min(run.max_concurrency, len(graph))):
                nursery.start_soon(worker)

    @staticmethod
    async def _unlimited(run: dagmill.Run) -> None:
        execute = run.execute
        async with trio.open_nursery() as nursery:

            async def start(i: int) -> None:
                for s in await execute(i):
                    nursery.start_soon(start, s)

            for i in run.graph.sources:
                nursery.start_soon(start, i)


@dagmill.hookimpl
def dagmill_schedulers() -> Sequence[type[dagmill.Scheduler]]:
    return [ReadyScheduler]
