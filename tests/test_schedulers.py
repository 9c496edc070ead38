"""Schedulers: limits, dependencies, barriers, priorities and failure policies — on trio's mock clock."""

from __future__ import annotations

import functools
import random
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import dagmill
import nodetypes

SCHEDULERS = ["sequential", "level", "ready"]
PARALLEL = ["level", "ready"]


class Tracker:
    """Watches a run through its hooks: concurrency, pool use, and the order of starts and ends."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.pool_peak: dict[str, int] = {}
        self.events: list[tuple[str, str, float]] = []

    @dagmill.hookimpl
    def dagmill_node_start(self, run: dagmill.Run, node: dagmill.Node) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        for pool in run.statistics().pools:
            assert pool.borrowed <= pool.capacity
            self.pool_peak[pool.name] = max(self.pool_peak.get(pool.name, 0), pool.borrowed)
        self.events.append(("start", node.id, trio.current_time()))

    @dagmill.hookimpl
    def dagmill_node_end(self, node: dagmill.Node, result: dagmill.NodeResult) -> None:
        if result.started_at is not None:
            self.running -= 1
        self.events.append(("end", node.id, trio.current_time()))


async def arun(document: Any, **options: Any) -> dagmill.RunResult:
    plugins = [nodetypes, *options.pop("plugins", [])]
    return await dagmill.arun(document, plugins=plugins, **options)


def sleepers(durations: dict[str, float], edges: list[tuple[str, str]], **extra: Any) -> dict[str, Any]:
    return {
        "nodes": [{"id": x, "type": "t.sleep", "params": {"seconds": s}, "estimate": s} for x, s in durations.items()],
        "edges": [{"source": s, "target": t} for s, t in edges],
        **extra,
    }


def wide(n: int, seconds: float = 1) -> dict[str, Any]:
    return sleepers({f"w{i:02d}": seconds for i in range(n)}, [])


@pytest.mark.parametrize("scheduler", PARALLEL)
@pytest.mark.parametrize("limit", [1, 3])
async def test_concurrency_never_exceeds_the_limit_and_reaches_it(
    autojump_clock: trio.testing.MockClock, scheduler: str, limit: int
) -> None:
    tracker = Tracker()
    result = await arun(wide(10), scheduler=scheduler, max_concurrency=limit, plugins=[tracker])
    assert result.ok
    assert tracker.peak == limit
    assert result.duration == pytest.approx(-(-10 // limit))


@pytest.mark.parametrize("scheduler", PARALLEL)
async def test_unlimited_concurrency_starts_every_ready_node(autojump_clock: trio.testing.MockClock, scheduler: str) -> None:
    tracker = Tracker()
    result = await arun(wide(40), scheduler=scheduler, max_concurrency=0, plugins=[tracker])
    assert tracker.peak == 40
    assert result.duration == pytest.approx(1)
    assert result.levels[0].peak_concurrency == 40


@pytest.mark.parametrize("scheduler", SCHEDULERS)
async def test_resource_pools_are_never_exceeded(autojump_clock: trio.testing.MockClock, scheduler: str) -> None:
    tracker = Tracker()
    doc = wide(12)
    doc["resources"] = {"db": 3, "gpu": 2}
    for i, node in enumerate(doc["nodes"]):
        node["resources"] = {"db": 1 + i % 3, "gpu": 1} if i % 2 else {"db": 2}
    result = await arun(doc, scheduler=scheduler, max_concurrency=0, plugins=[tracker])
    assert result.ok
    assert tracker.pool_peak["db"] == 3
    assert tracker.pool_peak["gpu"] <= 2


async def test_pool_requests_of_several_tokens_do_not_deadlock(autojump_clock: trio.testing.MockClock) -> None:
    doc = wide(6)
    doc["resources"] = {"a": 3, "b": 3}
    for i, node in enumerate(doc["nodes"]):
        node["resources"] = {"a": 2, "b": 2} if i % 2 else {"b": 2, "a": 2}
    result = await arun(doc, scheduler="ready", max_concurrency=0)
    assert result.ok
    assert result.duration == pytest.approx(6)


def random_dag(seed: int, n: int) -> tuple[dict[str, float], list[tuple[str, str]]]:
    rng = random.Random(seed)
    ids = [f"n{i:03d}" for i in range(n)]
    durations = {x: float(rng.randint(1, 5)) for x in ids}
    edges = [(ids[a], ids[b]) for b in range(n) for a in range(b) if rng.random() < 0.15]
    return durations, edges


@pytest.mark.parametrize("scheduler", SCHEDULERS)
async def test_every_node_starts_after_all_its_predecessors_ended(autojump_clock: trio.testing.MockClock, scheduler: str) -> None:
    durations, edges = random_dag(7, 30)
    tracker = Tracker()
    result = await arun(sleepers(durations, edges), scheduler=scheduler, max_concurrency=4, plugins=[tracker])
    assert result.ok
    position = {(kind, node): k for k, (kind, node, _) in enumerate(tracker.events)}
    for source, target in edges:
        assert position[("end", source)] < position[("start", target)]
        assert result.nodes[source].ended_at <= result.nodes[target].started_at  # type: ignore[operator]


async def test_level_never_starts_a_level_before_the_previous_one_ended(autojump_clock: trio.testing.MockClock) -> None:
    durations, edges = random_dag(11, 30)
    result = await arun(sleepers(durations, edges), scheduler="level", max_concurrency=3)
    levels = result.levels
    for before, after in zip(levels, levels[1:]):
        assert before.ended_at <= after.started_at  # type: ignore[operator]
    for node in result.nodes.values():
        level = levels[node.level]
        assert level.started_at <= node.started_at and node.ended_at <= level.ended_at  # type: ignore[operator]


async def test_level_starts_nodes_of_a_level_in_id_order(autojump_clock: trio.testing.MockClock) -> None:
    tracker = Tracker()
    names = ["delta", "alpha", "echo", "charlie", "bravo"]
    await arun(sleepers(dict.fromkeys(names, 1.0), []), scheduler="level", max_concurrency=2, plugins=[tracker])
    assert [node for kind, node, _ in tracker.events if kind == "start"] == sorted(names)


async def test_ready_starts_a_node_as_soon_as_its_last_predecessor_ends(autojump_clock: trio.testing.MockClock) -> None:
    durations = {"a": 1.0, "b": 5.0, "c": 2.0, "after_a": 1.0, "after_ab": 1.0}
    edges = [("a", "after_a"), ("a", "after_ab"), ("b", "after_ab")]
    result = await arun(sleepers(durations, edges), scheduler="ready", max_concurrency=4)
    assert result.nodes["after_a"].started_at == pytest.approx(1)
    assert result.nodes["after_a"].ready_at == pytest.approx(1)
    assert result.nodes["after_ab"].started_at == pytest.approx(5)
    level = await arun(sleepers(durations, edges), scheduler="level", max_concurrency=4)
    assert level.nodes["after_a"].started_at == pytest.approx(5)


def long_pole() -> dict[str, Any]:
    durations = {"pole0": 10.0, "pole1": 10.0, "pole2": 10.0} | {f"short{i:02d}": 1.0 for i in range(12)}
    return sleepers(durations, [("pole0", "pole1"), ("pole1", "pole2")])


async def test_ready_reaches_the_lower_bound_on_the_long_pole(autojump_clock: trio.testing.MockClock) -> None:
    ready = await arun(long_pole(), scheduler="ready", max_concurrency=2)
    lower_bound = max(30, (30 + 12) / 2)
    assert ready.duration == pytest.approx(lower_bound)
    assert ready.nodes["pole0"].started_at == pytest.approx(0)


async def test_level_pays_the_barrier_on_the_long_pole(autojump_clock: trio.testing.MockClock) -> None:
    level = await arun(long_pole(), scheduler="level", max_concurrency=2)
    # level 0: pole0 on one worker for 10s, the twelve shorts on both workers, done at 11; then 10 + 10
    assert level.duration == pytest.approx(31)
    assert level.nodes["pole1"].started_at == pytest.approx(11)


def failing_diamond() -> dict[str, Any]:
    """root feeds a failing node and a 10 s one, both feed merge; after_slow hangs off the slow branch only."""
    return {
        "nodes": [
            {"id": "root", "type": "t.value", "params": {"value": 1}},
            {"id": "bad", "type": "t.fail"},
            {"id": "slow", "type": "t.sleep", "params": {"seconds": 10}},
            {"id": "merge", "type": "t.sum"},
            {"id": "after_slow", "type": "t.sum"},
        ],
        "edges": [
            {"source": "root", "target": "bad"},
            {"source": "root", "target": "slow"},
            {"source": "bad", "target": "merge"},
            {"source": "slow", "target": "merge"},
            {"source": "slow", "target": "after_slow"},
        ],
    }


@pytest.mark.parametrize("scheduler", SCHEDULERS)
async def test_fail_fast_on_a_diamond(autojump_clock: trio.testing.MockClock, scheduler: str) -> None:
    result = await arun(failing_diamond(), scheduler=scheduler, max_concurrency=4)
    statuses = {node_id: node.status.value for node_id, node in result.nodes.items()}
    assert result.status is dagmill.Status.FAILED
    # sequential runs "bad" first (document order), so "slow" never starts; otherwise it is cut short
    assert statuses == {"root": "succeeded", "bad": "failed", "slow": "cancelled", "merge": "skipped", "after_slow": "cancelled"}
    assert result.duration < 10


@pytest.mark.parametrize("scheduler", SCHEDULERS)
async def test_continue_on_a_diamond_finishes_the_independent_branch(autojump_clock: trio.testing.MockClock, scheduler: str) -> None:
    result = await arun(failing_diamond(), scheduler=scheduler, max_concurrency=4, fail_policy="continue")
    statuses = {node_id: node.status.value for node_id, node in result.nodes.items()}
    assert statuses == {"root": "succeeded", "bad": "failed", "slow": "succeeded", "merge": "skipped", "after_slow": "succeeded"}
    assert result.outputs == {"after_slow": 1}


@pytest.mark.parametrize("scheduler", PARALLEL)
async def test_fail_fast_on_a_wide_graph_cancels_the_running_and_starts_nothing(
    autojump_clock: trio.testing.MockClock, scheduler: str
) -> None:
    doc = wide(20, seconds=5)
    doc["nodes"].append({"id": "a_bad", "type": "t.fail", "params": {"after": 1}, "estimate": 100})
    tracker = Tracker()
    result = await arun(doc, scheduler=scheduler, max_concurrency=4, plugins=[tracker])
    counts = result.counts()
    assert counts == {"failed": 1, "cancelled": 20}
    started = {node for kind, node, _ in tracker.events if kind == "start"}
    assert len(started) == 4
    assert started == {"a_bad", "w00", "w01", "w02"}
    assert all(result.nodes[node].ended_at == pytest.approx(1) for node in started)


@pytest.mark.parametrize("scheduler", PARALLEL)
async def test_continue_on_a_wide_graph_runs_every_other_node(autojump_clock: trio.testing.MockClock, scheduler: str) -> None:
    doc = wide(20, seconds=5)
    doc["nodes"].append({"id": "a_bad", "type": "t.fail"})
    result = await arun(doc, scheduler=scheduler, max_concurrency=4, fail_policy="continue")
    assert result.counts() == {"failed": 1, "succeeded": 20}
    assert result.duration == pytest.approx(25)


async def test_a_scheduler_that_breaks_the_contract_is_stopped() -> None:
    class Eager(dagmill.Scheduler):
        name = "eager"

        async def run(self, run: dagmill.Run) -> None:
            for i in reversed(run.graph.order):
                await run.execute(i)

    class Twice(dagmill.Scheduler):
        name = "twice"

        async def run(self, run: dagmill.Run) -> None:
            await run.execute(0)
            await run.execute(0)

    class Lazy(dagmill.Scheduler):
        name = "lazy"

        async def run(self, run: dagmill.Run) -> None:
            return None

    class Plugin:
        @dagmill.hookimpl
        def dagmill_schedulers(self) -> list[type[dagmill.Scheduler]]:
            return [Eager, Twice, Lazy]

    doc = {"nodes": [{"id": "a", "type": "t.value"}, {"id": "b", "type": "t.sum"}], "edges": [{"source": "a", "target": "b"}]}
    with pytest.raises(dagmill.SchedulerError, match="started node 'b' before 'a' ended"):
        await arun(doc, scheduler="eager", plugins=[Plugin()])
    with pytest.raises(dagmill.SchedulerError, match="started node 'a' twice"):
        await arun(doc, scheduler="twice", plugins=[Plugin()])
    with pytest.raises(dagmill.SchedulerError, match="returned before every node ran"):
        await arun(doc, scheduler="lazy", plugins=[Plugin()])


@st.composite
def dags(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
    n = draw(st.integers(1, 25))
    ids = [f"n{i:02d}" for i in range(n)]
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, str]] = []
    for k, node_id in enumerate(ids):
        preds = draw(st.lists(st.sampled_from(ids[:k]), unique=True, max_size=3)) if k else []
        edges += [{"source": p, "target": node_id} for p in preds]
        if preds:
            nodes.append({"id": node_id, "type": "t.sleep", "params": {"seconds": draw(st.integers(0, 3))}})
        else:
            nodes.append({"id": node_id, "type": "t.value", "params": {"value": draw(st.integers(-5, 5))}})
    failing = draw(st.sets(st.sampled_from(ids), max_size=2))
    for node in nodes:
        if node["id"] in failing:
            node["type"], node["params"] = "t.fail", {"message": node["id"]}
    return {"nodes": nodes, "edges": edges}, draw(st.integers(0, 4))


def run_on_mock_clock(document: dict[str, Any], **options: Any) -> dagmill.RunResult:
    run = functools.partial(dagmill.arun, document, plugins=[nodetypes], **options)
    return trio.run(run, clock=trio.testing.MockClock(autojump_threshold=0))


@settings(max_examples=60, deadline=None)
@given(case=dags())
def test_all_schedulers_agree_and_respect_dependencies(case: tuple[dict[str, Any], int]) -> None:
    document, limit = case
    edges = [(e["source"], e["target"]) for e in document["edges"]]
    results = {s: run_on_mock_clock(document, scheduler=s, max_concurrency=limit, fail_policy="continue") for s in SCHEDULERS}
    reference = results["sequential"]
    for result in results.values():
        assert result.outputs == reference.outputs
        assert {k: n.status for k, n in result.nodes.items()} == {k: n.status for k, n in reference.nodes.items()}
        for source, target in edges:
            end, start = result.nodes[source].ended_at, result.nodes[target].started_at
            assert start is None or end <= start  # type: ignore[operator]
    for node_id, node in reference.nodes.items():
        broken_upstream = any(reference.nodes[s].status in ("failed", "skipped") for s, t in edges if t == node_id)
        assert (node.status == "skipped") == broken_upstream
