"""Graph analysis: order, levels, widths, critical path — iterative and linear."""

from __future__ import annotations

import sys

import pytest

import dagmill


def graph(edges: list[tuple[str, str]], ids: str, estimates: dict[str, float] | None = None) -> dagmill.Graph:
    index = {x: i for i, x in enumerate(ids)}
    estimates = estimates or {}
    return dagmill.Graph(list(ids), [(index[s], index[t], None) for s, t in edges], [estimates.get(x, 1.0) for x in ids])


def test_levels_are_longest_path_depth_sorted_by_id() -> None:
    g = graph([("r", "b"), ("r", "a"), ("a", "m"), ("b", "m"), ("r", "m")], "rbam")
    assert [[g.ids[i] for i in level] for level in g.levels] == [["r"], ["a", "b"], ["m"]]
    assert g.widths == [1, 2, 1]
    order = [g.ids[i] for i in g.order]
    assert order.index("r") < order.index("a") < order.index("m")
    assert [g.ids[i] for i in g.sources] == ["r"] and [g.ids[i] for i in g.sinks] == ["m"]


def test_predecessors_keep_edge_order() -> None:
    g = graph([("c", "m"), ("a", "m"), ("b", "m")], "abcm")
    assert [g.ids[p] for p in g.predecessors[3]] == ["c", "a", "b"]


def test_critical_path_follows_estimates() -> None:
    g = graph([("s", "fast"), ("s", "slow"), ("fast", "e"), ("slow", "e")], ["s", "fast", "slow", "e"], {"slow": 10})  # type: ignore[arg-type]
    assert [g.ids[i] for i in g.critical_path] == ["s", "slow", "e"]
    assert g.critical_length == 12
    assert g.remaining[g.index["fast"]] == 2


def test_hundred_thousand_node_chain_needs_no_recursion() -> None:
    n = 100_000
    assert n > sys.getrecursionlimit()
    ids = [f"n{i}" for i in range(n)]
    g = dagmill.Graph(ids, [(i, i + 1, None) for i in range(n - 1)], [1.0] * n)
    assert len(g.levels) == n
    assert g.critical_length == n
    assert len(g.critical_path) == n


def test_cycle_error_carries_the_cycle() -> None:
    with pytest.raises(dagmill.CycleError) as caught:
        graph([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")], "abcd")
    assert caught.value.cycles == [["a", "b", "c", "a"]]


def test_graph_is_computed_once_per_workflow(registry: dagmill.Registry) -> None:
    wf = dagmill.load({"nodes": [{"id": "a", "type": "t.value"}]}, registry=registry)
    assert wf.graph is wf.graph
