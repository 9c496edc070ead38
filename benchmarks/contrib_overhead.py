"""Per-call overhead of each dagmill-contrib-nodes type against the bare ``value`` node.

    python benchmarks/contrib_overhead.py

Each type runs as 5,000 independent nodes (each fed by one ``value`` node
where the type needs an input) under the ``sequential`` scheduler; the
figure is the time per node of the type minus the time per ``value`` node
feeding it, over the time per bare ``value`` node. I/O types (HTTP, files,
processes, sleep) are left out: their cost is the I/O.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import dagmill

N = 5_000
INPUT = {"text": "Hello", "number": 6, "json": '{"a": {"b": [1, 2, 3]}}', "parsed": {"a": {"b": [1, 2, 3]}}}
CASES: dict[str, tuple[dict[str, Any], str | None]] = {
    "value": ({"value": 1}, None),
    "add": ({}, "number"),
    "subtract": ({}, "number"),
    "multiply": ({}, "number"),
    "divide": ({}, "number"),
    "min": ({}, "number"),
    "max": ({}, "number"),
    "text": ({"text": "x"}, None),
    "concat": ({"separator": "-"}, "text"),
    "upper": ({}, "text"),
    "lower": ({}, "text"),
    "template": ({"template": "$in0!"}, "text"),
    "json_parse": ({}, "json"),
    "json_get": ({"path": "a.b[2]"}, "parsed"),
    "select": ({"port": "0"}, "text"),
    "set_var": ({"name": "v"}, "number"),
    "get_var": ({"name": "v"}, None),
    "counter": ({"name": "c"}, None),
    "accumulate": ({"name": "acc"}, "number"),
}


def document(type_name: str, params: dict[str, Any], feed: str | None) -> dict[str, Any]:
    nodes, edges = [], []
    for k in range(N):
        nodes.append({"id": f"n{k}", "type": type_name, "params": params})
        if feed is not None:
            nodes.append({"id": f"f{k}", "type": "value", "params": {"value": INPUT[feed]}})
            edges.append({"source": f"f{k}", "target": f"n{k}"})
    return {"nodes": nodes, "edges": edges}


def per_node(workflow: dagmill.Workflow, nodes: int) -> float:
    best = float("inf")
    for _ in range(3):
        gc.collect()
        start = time.perf_counter()
        result = dagmill.run(workflow, scheduler="sequential", handle_signals=False)
        best = min(best, time.perf_counter() - start)
        assert result.ok, result.counts()
    return best / nodes * 1e6


def main() -> None:
    base = per_node(dagmill.load(document("value", {"value": 1}, None)), N)
    print(f"| node type | µs per node | over `value` ({base:.2f} µs) |")
    print("|---|---:|---:|")
    for type_name, (params, feed) in CASES.items():
        workflow = dagmill.load(document(type_name, params, feed))
        nodes = len(workflow.nodes)
        total = per_node(workflow, nodes) * nodes / N
        own = total - (base if feed is not None else 0.0)
        print(f"| {type_name} | {own:.2f} | {own / base:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
