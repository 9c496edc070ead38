"""Makespan estimates from node estimates: what ``level`` and ``ready`` would take at ``k`` slots."""

from __future__ import annotations

import heapq

from dagmill.graph import Graph


def lower_bound(graph: Graph, k: int) -> float:
    """``max(critical path, total work / k)``; no run at ``k`` slots can be shorter (``k = 0``: unlimited)."""
    total = sum(graph.estimates)
    return max(graph.critical_length, total / k if k else 0.0)


def level_makespan(graph: Graph, k: int) -> float:
    """The makespan of the ``level`` scheduler: each level in id order on ``k`` slots, a barrier after it."""
    clock = 0.0
    for level in graph.levels:
        slots = [clock] * min(k or len(level), len(level))
        for i in level:
            start = heapq.heappop(slots)
            heapq.heappush(slots, start + graph.estimates[i])
        clock = max(slots)
    return clock


def ready_makespan(graph: Graph, k: int) -> float:
    """The makespan of the ``ready`` scheduler: list scheduling, longest remaining path first, on ``k`` slots."""
    n = len(graph)
    if not n:
        return 0.0
    limit = k or n
    remaining, ids = graph.remaining, graph.ids
    waiting = [len(p) for p in graph.predecessors]
    ready = [(-remaining[i], ids[i], i) for i in graph.sources]
    heapq.heapify(ready)
    running: list[tuple[float, int]] = []
    clock = 0.0
    while ready or running:
        while ready and len(running) < limit:
            _, _, i = heapq.heappop(ready)
            heapq.heappush(running, (clock + graph.estimates[i], i))
        clock, i = heapq.heappop(running)
        for s in graph.successors[i]:
            waiting[s] -= 1
            if not waiting[s]:
                heapq.heappush(ready, (-remaining[s], ids[s], s))
    return clock
