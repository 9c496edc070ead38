"""A third-party scheduler: the newest ready node first, finishing branches early to free their outputs."""

import trio

import dagmill


class DepthFirst(dagmill.Scheduler):
    name = "depth-first"
    description = "newest ready node first: finishes branches early, frees their outputs sooner"

    async def run(self, run: dagmill.Run) -> None:
        stack = sorted(run.graph.sources, reverse=True)
        wake = trio.lowlevel.ParkingLot()
        running = 0

        async def worker() -> None:
            nonlocal running
            while stack or running:
                if not stack:
                    await wake.park()
                    continue
                i = stack.pop()
                running += 1
                ready = await run.execute(i)
                running -= 1
                stack.extend(sorted(ready, reverse=True))
                wake.unpark_all()

        async with trio.open_nursery() as nursery:
            for _ in range(min(run.max_concurrency or len(run.graph), len(run.graph))):
                nursery.start_soon(worker)


@dagmill.hookimpl
def dagmill_schedulers() -> list[type[dagmill.Scheduler]]:
    return [DepthFirst]
