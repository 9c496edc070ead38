"""Graph analysis: topological order, levels, critical path — iterative, O(V+E)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from dagmill.model import Edge, Node


class CycleError(ValueError):
    """The graph has cycles; ``cycles`` holds some of them as node-id paths ``[a, b, a]``."""

    def __init__(self, cycles: list[list[str]]) -> None:
        self.cycles = cycles
        super().__init__("; ".join(" -> ".join(c) for c in cycles))


class Graph:
    """The shape of a workflow, with every node named by its index in ``ids``.

    Invariants: ``order`` is a topological order; ``level[i]`` is the length
    of the longest path from a source to ``i``; ``levels[k]`` holds the nodes
    of level ``k`` sorted by id; ``predecessors[i]`` follows edge order (it is
    the order of the node's inputs); ``remaining[i]`` is the longest estimated
    duration from the start of ``i`` to the end of any sink.
    """

    __slots__ = (
        "ids",
        "index",
        "successors",
        "predecessors",
        "ports",
        "estimates",
        "order",
        "level",
        "levels",
        "remaining",
        "critical_path",
        "critical_length",
        "sources",
        "sinks",
    )

    def __init__(
        self,
        ids: Sequence[str],
        pairs: Sequence[tuple[int, int, str | None]],
        estimates: Sequence[float],
    ) -> None:
        n = len(ids)
        self.ids: tuple[str, ...] = tuple(ids)
        self.index: dict[str, int] = {node_id: i for i, node_id in enumerate(self.ids)}
        succ: list[list[int]] = [[] for _ in range(n)]
        pred: list[list[int]] = [[] for _ in range(n)]
        port_lists: list[list[str]] = [[] for _ in range(n)]
        for s, t, port in pairs:
            succ[s].append(t)
            pred[t].append(s)
            if port is not None:
                port_lists[t].append(port)
        self.successors: tuple[tuple[int, ...], ...] = tuple(map(tuple, succ))
        self.predecessors: tuple[tuple[int, ...], ...] = tuple(map(tuple, pred))
        self.ports: tuple[tuple[str, ...] | None, ...] = tuple(tuple(ports) if ports else None for ports in port_lists)
        self.estimates: tuple[float, ...] = tuple(estimates)
        self.order = self._topological_order()
        self._analyse()

    @classmethod
    def build(cls, nodes: Sequence[Node], edges: Sequence[Edge], default_estimate: float = 1.0) -> Graph:
        """Analyse validated nodes and edges (``CycleError`` if they loop)."""
        index = {node.id: i for i, node in enumerate(nodes)}
        pairs = [(index[e.source], index[e.target], e.port) for e in edges]
        estimates = [default_estimate if node.estimate is None else node.estimate for node in nodes]
        return cls([node.id for node in nodes], pairs, estimates)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def widths(self) -> list[int]:
        """The number of nodes in each level."""
        return [len(level) for level in self.levels]

    def longest_remaining(self, estimates: Sequence[float]) -> tuple[float, ...]:
        """Per node, the longest sum of ``estimates`` along a path from it (itself included) to a sink."""
        remaining = [0.0] * len(self.ids)
        successors = self.successors
        for i in reversed(self.order):
            after = successors[i]
            remaining[i] = estimates[i] + (max([remaining[s] for s in after]) if after else 0.0)
        return tuple(remaining)

    def _topological_order(self) -> tuple[int, ...]:
        n = len(self.ids)
        indegree = [len(p) for p in self.predecessors]
        queue = deque(i for i in range(n) if not indegree[i])
        order: list[int] = []
        successors = self.successors
        while queue:
            i = queue.popleft()
            order.append(i)
            for s in successors[i]:
                indegree[s] -= 1
                if not indegree[s]:
                    queue.append(s)
        if len(order) < n:
            raise CycleError(self._cycles(indegree))
        return tuple(order)

    def _cycles(self, indegree: list[int], limit: int = 10) -> list[list[str]]:
        """Some cycles among the nodes Kahn's algorithm could not order.

        Every such node keeps an unordered predecessor, so walking predecessors
        from one of them must revisit a node: that closes a cycle.
        """
        stuck = {i for i, d in enumerate(indegree) if d}
        seen: set[int] = set()
        cycles: list[list[str]] = []
        for start in sorted(stuck, key=self.ids.__getitem__):
            if start in seen or len(cycles) >= limit:
                continue
            path: list[int] = []
            position: dict[int, int] = {}
            i = start
            while i not in position and i not in seen:
                position[i] = len(path)
                path.append(i)
                i = min((p for p in self.predecessors[i] if p in stuck), key=self.ids.__getitem__)
            seen.update(path)
            if i in position:
                loop = path[position[i] :][::-1]
                first = min(range(len(loop)), key=lambda k: self.ids[loop[k]])
                loop = loop[first:] + loop[:first]
                cycles.append([self.ids[k] for k in loop] + [self.ids[loop[0]]])
        return cycles

    def _analyse(self) -> None:
        n = len(self.ids)
        level = [0] * n
        for i in self.order:
            below = level[i] + 1
            for s in self.successors[i]:
                if level[s] < below:
                    level[s] = below
        depth = max(level, default=-1) + 1
        buckets: list[list[int]] = [[] for _ in range(depth)]
        for i in range(n):
            buckets[level[i]].append(i)
        ids = self.ids
        self.level: tuple[int, ...] = tuple(level)
        self.levels: tuple[tuple[int, ...], ...] = tuple(
            tuple(sorted(bucket, key=ids.__getitem__)) for bucket in buckets
        )
        self.remaining: tuple[float, ...] = self.longest_remaining(self.estimates)
        remaining = self.remaining
        self.sources: tuple[int, ...] = tuple(i for i in range(n) if not self.predecessors[i])
        self.sinks: tuple[int, ...] = tuple(i for i in range(n) if not self.successors[i])

        def heaviest(candidates: Sequence[int]) -> int:
            return min(candidates, key=lambda k: (-remaining[k], ids[k]))

        path: list[int] = []
        if self.sources:
            i = heaviest(self.sources)
            path.append(i)
            while self.successors[i]:
                i = heaviest(self.successors[i])
                path.append(i)
        self.critical_path: tuple[int, ...] = tuple(path)
        self.critical_length: float = remaining[path[0]] if path else 0.0
