"""Random failure patterns on random graphs, every scheduler and both policies: statuses follow the policy, and a
resume runs exactly what did not succeed (tests/test_schedulers.py covers the schedulers' agreement under ``continue``)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import dagmill
import journal_nodes
from dagmill.plugins.journal import Journal

SCHEDULERS = ["sequential", "level", "ready"]
BROKEN = {"failed", "skipped"}


class Order:
    """The order in which nodes start and end."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    @dagmill.hookimpl
    def dagmill_node_start(self, node: dagmill.Node) -> None:
        self.events.append(("start", node.id, "running"))

    @dagmill.hookimpl
    def dagmill_node_end(self, node: dagmill.Node, result: dagmill.NodeResult) -> None:
        self.events.append(("end", node.id, result.status.value))


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 18))
    ids = [f"n{i:02d}" for i in range(n)]
    nodes, edges = [], []
    for k, node_id in enumerate(ids):
        for p in draw(st.lists(st.sampled_from(ids[:k]), unique=True, max_size=3)) if k else []:
            edges.append({"source": p, "target": node_id})
        params = {"value": draw(st.integers(0, 9)), "seconds": draw(st.integers(0, 3))}
        nodes.append({"id": node_id, "type": "d.maybe", "params": params})
    return {
        "document": {"name": "random", "nodes": nodes, "edges": edges},
        "failing": draw(st.sets(st.sampled_from(ids), max_size=3)),
        "scheduler": draw(st.sampled_from(SCHEDULERS)),
        "policy": draw(st.sampled_from(["fail_fast", "continue"])),
        "limit": draw(st.integers(0, 4)),
    }


def run(case: dict[str, Any], failing: set[str], plugins: list[object]) -> tuple[dagmill.RunResult, list[str]]:
    """Run the case on a mock clock; return the result and the nodes that executed."""
    log: list[str] = []
    go = functools.partial(
        dagmill.arun,
        case["document"],
        plugins=[journal_nodes, *plugins],
        scheduler=case["scheduler"],
        max_concurrency=case["limit"],
        fail_policy=case["policy"],
        settings={"log": log, "fail": failing},
    )
    return trio.run(go, clock=trio.testing.MockClock(autojump_threshold=0)), log


@settings(max_examples=60, deadline=None)
@given(case=cases())
def test_statuses_follow_the_failure_policy_and_resume_runs_exactly_what_did_not_succeed(case: dict[str, Any]) -> None:
    predecessors: dict[str, list[str]] = {node["id"]: [] for node in case["document"]["nodes"]}
    for edge in case["document"]["edges"]:
        predecessors[edge["target"]].append(edge["source"])
    clean, _ = run(case, set(), [])
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch, "journal.sqlite3")
        order = Order()
        first, _ = run(case, case["failing"], [Journal(path), order])
        status = {node_id: node.status.value for node_id, node in first.nodes.items()}

        assert set(status.values()) <= {"succeeded", "failed", "skipped", "cancelled"}
        assert {n for n, s in status.items() if s == "failed"} <= case["failing"]
        assert first.ok == ("failed" not in status.values())
        for node_id, s in status.items():
            upstream = {status[p] for p in predecessors[node_id]}
            if s == "succeeded":
                assert upstream <= {"succeeded"}
            if s == "skipped":
                assert upstream & BROKEN
            if case["policy"] == "continue":
                assert (s == "skipped") == bool(upstream & BROKEN)
        if case["policy"] == "fail_fast" and not first.ok:
            failed_at = next(k for k, event in enumerate(order.events) if event[0] == "end" and event[2] == "failed")
            started_before = {node_id for kind, node_id, _ in order.events[:failed_at] if kind == "start"}
            assert all(kind != "start" for kind, _, _ in order.events[failed_at:]), "nothing starts after the first failure"
            for node_id, s in status.items():
                if node_id not in started_before:
                    assert s in ("cancelled", "skipped"), (node_id, s)
                    assert (s == "skipped") == bool({status[p] for p in predecessors[node_id]} & BROKEN)
        if case["policy"] == "continue":
            assert "cancelled" not in status.values()

        with Journal(path, resume=first.run_id) as journal:
            again, executed = run(case, set(), [journal])
        succeeded_before = {n for n, s in status.items() if s == "succeeded"}
        assert {n: node.status.value for n, node in again.nodes.items()} == {
            n: "cached" if n in succeeded_before else "succeeded" for n in status
        }
        assert sorted(executed) == sorted(set(status) - succeeded_before)
        assert again.outputs == clean.outputs
        assert again.extras["journal"]["reused"] == len(succeeded_before)
