"""The peers dagmill is measured against, each the simplest honest version of its idea.

Every peer passes each node the list of its predecessors' outputs, as dagmill does.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Awaitable, Callable
from graphlib import TopologicalSorter
from typing import Any

import trio

from shapes import Deps

SyncFn = Callable[[list[Any]], Any]
AsyncFn = Callable[[str, list[Any]], Awaitable[Any]]


def plain_loop(deps: Deps, fn: SyncFn) -> dict[str, Any]:
    """A plain Python loop over ``graphlib`` order: the floor for a sequential engine."""
    out: dict[str, Any] = {}
    for node in TopologicalSorter(deps).static_order():
        out[node] = fn([out[p] for p in deps[node]])
    return out


async def naive_trio(deps: Deps, fn: AsyncFn, k: int) -> dict[str, Any]:
    """``graphlib`` + one nursery + one task per ready node waiting on a ``CapacityLimiter``."""
    sorter = TopologicalSorter(deps)
    sorter.prepare()
    limiter = trio.CapacityLimiter(k or math.inf)
    out: dict[str, Any] = {}
    send, receive = trio.open_memory_channel[str](math.inf)
    async with trio.open_nursery() as nursery:

        async def task(node: str) -> None:
            async with limiter:
                out[node] = await fn(node, [out[p] for p in deps[node]])
            send.send_nowait(node)

        while sorter.is_active():
            for node in sorter.get_ready():
                nursery.start_soon(task, node)
            sorter.done(await receive.receive())
    return out


async def lean_trio(deps: Deps, fn: AsyncFn, k: int, priority: dict[str, float]) -> dict[str, Any]:
    """``k`` worker tasks pulling from one heap ordered by remaining critical path; predecessor counts."""
    successors: dict[str, list[str]] = {node: [] for node in deps}
    for node, preds in deps.items():
        for p in preds:
            successors[p].append(node)
    waiting = {node: len(preds) for node, preds in deps.items()}
    heap = [(-priority[node], node) for node, count in waiting.items() if not count]
    heapq.heapify(heap)
    out: dict[str, Any] = {}
    idle = trio.lowlevel.ParkingLot()
    active = 0

    async def worker() -> None:
        nonlocal active
        while True:
            while not heap:
                if not active:
                    idle.unpark_all()
                    return
                await idle.park()
            _, node = heapq.heappop(heap)
            active += 1
            out[node] = await fn(node, [out[p] for p in deps[node]])
            active -= 1
            for s in successors[node]:
                waiting[s] -= 1
                if not waiting[s]:
                    heapq.heappush(heap, (-priority[s], s))
                    idle.unpark()

    async with trio.open_nursery() as nursery:
        for _ in range(k or len(deps)):
            nursery.start_soon(worker)
    return out


async def level_barrier(deps: Deps, fn: AsyncFn, k: int) -> dict[str, Any]:
    """The seeds' algorithm: levels, one nursery per level under a limiter, a barrier between levels."""
    level: dict[str, int] = {}
    for node in TopologicalSorter(deps).static_order():
        level[node] = 1 + max((level[p] for p in deps[node]), default=-1)
    levels: list[list[str]] = [[] for _ in range(max(level.values()) + 1)]
    for node, depth in level.items():
        levels[depth].append(node)
    limiter = trio.CapacityLimiter(k or math.inf)
    out: dict[str, Any] = {}

    async def task(node: str) -> None:
        async with limiter:
            out[node] = await fn(node, [out[p] for p in deps[node]])

    for nodes in levels:
        async with trio.open_nursery() as nursery:
            for node in sorted(nodes):
                nursery.start_soon(task, node)
    return out


def dask_graph(deps: Deps, fn: Callable[..., Any]) -> dict[str, Any]:
    """The same graph as a dask task graph: ``{key: (fn, *predecessor_keys)}``."""
    return {node: (fn, *preds) for node, preds in deps.items()}
