"""The run loop: data flow, failure, retries, timeouts, hooks, lookups, resources, results."""

from __future__ import annotations

import gc
import re
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

import dagmill
import nodetypes

SCHEDULERS = ["sequential", "level", "ready"]


async def arun(document: Any, *, plugins: list[object] | None = None, **options: Any) -> dagmill.RunResult:
    return await dagmill.arun(document, plugins=[nodetypes, *(plugins or [])], **options)


def diamond(root: int = 100) -> dict[str, Any]:
    return {
        "name": "diamond",
        "nodes": [
            {"id": "root", "type": "t.value", "params": {"value": root}},
            {"id": "left", "type": "t.sum"},
            {"id": "right", "type": "t.sum"},
            {"id": "merge", "type": "t.sum"},
        ],
        "edges": [
            {"source": "root", "target": "left"},
            {"source": "root", "target": "right"},
            {"source": "left", "target": "merge"},
            {"source": "right", "target": "merge"},
        ],
    }


@pytest.mark.parametrize("scheduler", SCHEDULERS)
async def test_outputs_flow_along_edges_to_the_sinks(scheduler: str) -> None:
    result = await arun(diamond(), scheduler=scheduler)
    assert result.status is dagmill.Status.SUCCEEDED
    assert result.outputs == {"merge": 200}
    assert {n.status for n in result.nodes.values()} == {dagmill.Status.SUCCEEDED}
    assert [result.nodes[x].level for x in ("root", "left", "right", "merge")] == [0, 1, 1, 2]


async def test_inputs_come_in_edge_order_or_by_port() -> None:
    doc = {
        "nodes": [{"id": x, "type": "t.value", "params": {"value": x}} for x in "abc"]
        + [{"id": "listed", "type": "t.echo"}, {"id": "named", "type": "t.echo"}],
        "edges": [
            {"source": "c", "target": "listed"},
            {"source": "a", "target": "listed"},
            {"source": "b", "target": "listed"},
            {"source": "a", "target": "named", "port": "x"},
            {"source": "b", "target": "named", "port": "y"},
        ],
    }
    result = await arun(doc)
    assert result.outputs == {"listed": ["c", "a", "b"], "named": {"x": "a", "y": "b"}}


async def test_failed_node_records_error_and_traceback_and_skips_descendants() -> None:
    doc = {
        "nodes": [
            {"id": "ok", "type": "t.value", "params": {"value": 1}},
            {"id": "after_ok", "type": "t.sum"},
            {"id": "bad", "type": "t.fail", "params": {"message": "disk on fire"}},
            {"id": "child", "type": "t.sum"},
            {"id": "grandchild", "type": "t.sum"},
        ],
        "edges": [
            {"source": "ok", "target": "after_ok"},
            {"source": "bad", "target": "child"},
            {"source": "child", "target": "grandchild"},
        ],
    }
    result = await arun(doc, fail_policy="continue")
    assert result.status is dagmill.Status.FAILED
    bad = result.nodes["bad"]
    assert bad.status is dagmill.Status.FAILED
    assert bad.error == "RuntimeError: disk on fire"
    assert bad.traceback is not None and "raise RuntimeError(params.message)" in bad.traceback
    assert bad.attempts == 1
    assert result.nodes["child"].status is dagmill.Status.SKIPPED
    assert result.nodes["grandchild"].status is dagmill.Status.SKIPPED
    assert result.nodes["child"].attempts == 0
    assert result.nodes["after_ok"].status is dagmill.Status.SUCCEEDED
    assert result.outputs == {"after_ok": 1}


async def test_retries_are_counted_until_success(autojump_clock: trio.testing.MockClock) -> None:
    doc = {"nodes": [{"id": "f", "type": "t.flaky", "params": {"failures": 2}, "retries": 2}]}
    result = await arun(doc)
    assert result.nodes["f"].status is dagmill.Status.SUCCEEDED
    assert result.nodes["f"].attempts == 3
    assert result.outputs == {"f": 3}


async def test_retries_run_out(autojump_clock: trio.testing.MockClock) -> None:
    doc = {"defaults": {"retries": 1}, "nodes": [{"id": "f", "type": "t.flaky", "params": {"failures": 5}}]}
    result = await arun(doc)
    assert result.nodes["f"].status is dagmill.Status.FAILED
    assert result.nodes["f"].attempts == 2
    assert result.nodes["f"].error == "RuntimeError: attempt 2 fails on purpose"


async def test_retry_backoff_is_exponential_with_jitter_and_a_cap(autojump_clock: trio.testing.MockClock) -> None:
    doc = {
        "defaults": {"retry_backoff_max": 3},
        "nodes": [{"id": "f", "type": "t.flaky", "params": {"failures": 4}, "retries": 4, "retry_backoff": 1}],
    }
    result = await arun(doc)
    waited = result.nodes["f"].duration
    # delays: [0.5, 1] + [1, 2] + [1.5, 3] (capped at 3) + [1.5, 3]
    assert waited is not None and 4.5 <= waited <= 9


async def test_node_timeout_is_a_cancel_scope(autojump_clock: trio.testing.MockClock) -> None:
    doc = {"nodes": [{"id": "slow", "type": "t.sleep", "params": {"seconds": 60}, "timeout": 2, "retries": 1, "retry_backoff": 0}]}
    result = await arun(doc)
    slow = result.nodes["slow"]
    assert slow.status is dagmill.Status.FAILED
    assert slow.error == "NodeTimeoutError: timed out after 2s"
    assert slow.attempts == 2
    assert slow.duration == pytest.approx(4)


async def test_run_timeout_cancels_running_nodes(autojump_clock: trio.testing.MockClock) -> None:
    doc = {
        "nodes": [
            {"id": "slow", "type": "t.sleep", "params": {"seconds": 60}},
            {"id": "after", "type": "t.sum"},
        ],
        "edges": [{"source": "slow", "target": "after"}],
    }
    result = await arun(doc, timeout=5)
    assert result.status is dagmill.Status.FAILED
    assert result.error == "run timed out after 5s"
    assert result.nodes["slow"].status is dagmill.Status.CANCELLED
    assert result.nodes["slow"].ended_at == pytest.approx(5)
    assert result.nodes["after"].status is dagmill.Status.CANCELLED
    assert result.duration == pytest.approx(5)


async def test_times_are_exact_on_the_run_clock(autojump_clock: trio.testing.MockClock) -> None:
    doc = {
        "nodes": [
            {"id": "a", "type": "t.sleep", "params": {"seconds": 3}},
            {"id": "b", "type": "t.sleep", "params": {"seconds": 2}},
        ],
        "edges": [{"source": "a", "target": "b"}],
    }
    result = await arun(doc, scheduler="ready")
    a, b = result.nodes["a"], result.nodes["b"]
    assert (a.ready_at, a.started_at, a.ended_at) == (0, pytest.approx(0), pytest.approx(3))
    assert (b.ready_at, b.started_at, b.ended_at) == (pytest.approx(3), pytest.approx(3), pytest.approx(5))
    assert [(level.level, level.width, level.duration) for level in result.levels] == [
        (0, 1, pytest.approx(3)),
        (1, 1, pytest.approx(2)),
    ]


class Big:
    """An output whose lifetime the test watches."""


async def test_outputs_are_released_once_the_last_consumer_has_them() -> None:
    seen: dict[str, Any] = {}

    @dagmill.node_type("t.big")
    def big(params: None, inputs: Any, ctx: dagmill.NodeContext) -> Big:
        value = Big()
        seen["ref"] = weakref.ref(value)
        return value

    @dagmill.node_type("t.check")
    def check(params: None, inputs: Any, ctx: dagmill.NodeContext) -> bool:
        gc.collect()
        return seen["ref"]() is None

    class Plugin:
        @dagmill.hookimpl
        def dagmill_node_types(self) -> list[dagmill.NodeType]:
            return [big, check]

    doc = {
        "nodes": [{"id": "a", "type": "t.big"}, {"id": "b", "type": "t.noop"}, {"id": "c", "type": "t.check"}],
        "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "c"}],
    }
    released = await arun(doc, scheduler="sequential", plugins=[Plugin()])
    assert released.outputs == {"c": True}
    assert released.nodes["a"].output is None
    kept = await arun(doc, scheduler="sequential", plugins=[Plugin()], keep_outputs=True)
    assert kept.outputs == {"c": False}
    assert isinstance(kept.nodes["a"].output, Big)


async def test_lifecycle_hooks_fire_in_order() -> None:
    events: list[tuple[str, ...]] = []

    class Recorder:
        @dagmill.hookimpl
        def dagmill_run_start(self, run: dagmill.Run) -> None:
            events.append(("run_start", run.workflow.name))

        @dagmill.hookimpl
        def dagmill_level_start(self, level: int, width: int) -> None:
            events.append(("level_start", str(level), str(width)))

        @dagmill.hookimpl
        def dagmill_level_end(self, level: dagmill.LevelResult) -> None:
            events.append(("level_end", str(level.level)))

        @dagmill.hookimpl
        def dagmill_node_ready(self, node: dagmill.Node) -> None:
            events.append(("ready", node.id))

        @dagmill.hookimpl
        def dagmill_node_start(self, node: dagmill.Node) -> None:
            events.append(("start", node.id))

        @dagmill.hookimpl
        def dagmill_node_end(self, node: dagmill.Node, result: dagmill.NodeResult) -> None:
            events.append(("end", node.id, result.status.value))

        @dagmill.hookimpl
        def dagmill_run_end(self, result: dagmill.RunResult) -> None:
            events.append(("run_end", result.status.value))

    doc = {
        "name": "hooks",
        "nodes": [{"id": "a", "type": "t.value", "params": {"value": 1}}, {"id": "b", "type": "t.sum"}],
        "edges": [{"source": "a", "target": "b"}],
    }
    await arun(doc, scheduler="sequential", plugins=[Recorder()])
    assert events == [
        ("run_start", "hooks"),
        ("ready", "a"),
        ("level_start", "0", "1"),
        ("start", "a"),
        ("end", "a", "succeeded"),
        ("level_end", "0"),
        ("ready", "b"),
        ("level_start", "1", "1"),
        ("start", "b"),
        ("end", "b", "succeeded"),
        ("level_end", "1"),
        ("run_end", "succeeded"),
    ]


async def test_every_implementation_of_a_hook_is_called_and_the_first_lookup_answer_wins() -> None:
    ends: list[tuple[str, str]] = []

    class Ends:
        def __init__(self, name: str) -> None:
            self.name = name

        @dagmill.hookimpl
        def dagmill_node_end(self, node: dagmill.Node) -> None:
            ends.append((self.name, node.id))

    class Answer:
        def __init__(self, value: int | None) -> None:
            self.value = value

        @dagmill.hookimpl
        def dagmill_node_lookup(self, node: dagmill.Node) -> dagmill.StoredResult | None:
            return None if self.value is None else dagmill.StoredResult(self.value, origin=str(self.value))

    doc = {"nodes": [{"id": "a", "type": "t.fail"}]}
    result = await arun(doc, plugins=[Ends("x"), Ends("y"), Answer(None), Answer(7)])
    assert sorted(ends) == [("x", "a"), ("y", "a")]
    assert result.outputs == {"a": 7}


async def test_plugins_read_a_nodes_output_while_the_run_holds_it() -> None:
    seen: dict[str, Any] = {}

    class Reader:
        @dagmill.hookimpl
        def dagmill_node_end(self, run: dagmill.Run, node: dagmill.Node) -> None:
            seen[node.id] = run.output(run.graph.index[node.id])

        @dagmill.hookimpl
        def dagmill_run_end(self, run: dagmill.Run) -> None:
            seen["a at the end"] = run.output(0)
            seen["b at the end"] = run.output(1)

    doc = {
        "nodes": [{"id": "a", "type": "t.value", "params": {"value": 3}}, {"id": "b", "type": "t.sum"}],
        "edges": [{"source": "a", "target": "b"}],
    }
    await arun(doc, scheduler="sequential", plugins=[Reader()])
    assert seen == {"a": 3, "b": 3, "a at the end": None, "b at the end": 3}


async def test_lookup_hook_makes_a_node_cached_without_running_it() -> None:
    calls: list[str] = []

    class Cache:
        @dagmill.hookimpl
        def dagmill_node_lookup(self, node: dagmill.Node, fingerprint: str) -> dagmill.StoredResult | None:
            calls.append(fingerprint)
            return dagmill.StoredResult(41, origin="test") if node.id == "a" else None

    doc = {
        "nodes": [{"id": "a", "type": "t.fail"}, {"id": "b", "type": "t.sum"}],
        "edges": [{"source": "a", "target": "b"}],
    }
    result = await arun(doc, plugins=[Cache()])
    assert result.status is dagmill.Status.SUCCEEDED
    assert result.nodes["a"].status is dagmill.Status.CACHED
    assert result.nodes["a"].attempts == 0
    assert result.outputs == {"b": 41}
    assert len(calls) == 2 and len(set(calls)) == 2


async def test_lookups_are_narrowed_to_the_nodes_every_lookup_plugin_names() -> None:
    asked: list[str] = []
    may: dict[str, bool] = {}

    class Scoped:
        @dagmill.hookimpl
        def dagmill_lookup_scope(self, run: dagmill.Run) -> list[int]:
            return [run.graph.index["b"]]

        @dagmill.hookimpl
        def dagmill_node_lookup(self, node: dagmill.Node) -> None:
            asked.append(node.id)

    class Unscoped:
        @dagmill.hookimpl
        def dagmill_node_lookup(self, node: dagmill.Node) -> None:
            asked.append(node.id)

    class Observer:
        @dagmill.hookimpl
        def dagmill_node_start(self, run: dagmill.Run, node: dagmill.Node) -> None:
            may[node.id] = run.may_look_up(run.graph.index[node.id])

    doc = {"nodes": [{"id": x, "type": "t.noop"} for x in "abc"]}
    await arun(doc, scheduler="sequential", plugins=[Scoped(), Observer()])
    assert asked == ["b"]
    assert may == {"a": False, "b": True, "c": False}
    asked.clear()
    await arun(doc, scheduler="sequential", plugins=[Scoped(), Unscoped(), Observer()])
    assert sorted(asked) == ["a", "a", "b", "b", "c", "c"]  # both plugins, asked for every node
    assert may == {"a": True, "b": True, "c": True}


async def test_fingerprint_changes_with_params_and_upstream(registry: dagmill.Registry) -> None:
    prints: list[dict[str, str]] = []

    class Spy:
        @dagmill.hookimpl
        def dagmill_run_start(self, run: dagmill.Run) -> None:
            prints.append({})

        @dagmill.hookimpl
        def dagmill_node_lookup(self, run: dagmill.Run, node: dagmill.Node, fingerprint: str) -> None:
            prints[-1][node.id] = fingerprint

    def doc(value: int, tail_value: int) -> dict[str, Any]:
        return {
            "nodes": [
                {"id": "a", "type": "t.value", "params": {"value": value}},
                {"id": "b", "type": "t.sum"},
                {"id": "c", "type": "t.value", "params": {"value": tail_value}},
            ],
            "edges": [{"source": "a", "target": "b"}],
        }

    for document in (doc(1, 5), doc(1, 5), doc(2, 5)):
        await arun(document, plugins=[Spy()])
    first, same, changed = prints
    assert first == same
    assert changed["a"] != first["a"] and changed["b"] != first["b"]
    assert changed["c"] == first["c"]


async def test_run_cancel_cancels_running_nodes(autojump_clock: trio.testing.MockClock) -> None:
    class Canceller:
        @dagmill.hookimpl
        def dagmill_node_start(self, run: dagmill.Run, node: dagmill.Node) -> None:
            if node.id == "second":
                run.cancel("stop requested")

    doc = {
        "nodes": [
            {"id": "first", "type": "t.sleep", "params": {"seconds": 1}},
            {"id": "second", "type": "t.sleep", "params": {"seconds": 9}},
            {"id": "third", "type": "t.sum"},
        ],
        "edges": [{"source": "first", "target": "second"}, {"source": "second", "target": "third"}],
    }
    result = await arun(doc, plugins=[Canceller()])
    assert result.status is dagmill.Status.CANCELLED
    assert result.error == "stop requested"
    assert [result.nodes[x].status.value for x in ("first", "second", "third")] == ["succeeded", "cancelled", "cancelled"]
    assert result.duration == pytest.approx(1)


async def test_cancellation_from_the_caller_propagates(autojump_clock: trio.testing.MockClock) -> None:
    doc = {"nodes": [{"id": "slow", "type": "t.sleep", "params": {"seconds": 60}}]}
    with trio.move_on_after(3) as scope:
        await arun(doc)
    assert scope.cancelled_caught
    assert trio.current_time() == pytest.approx(3)


async def test_progress_reaches_the_hook() -> None:
    reports: list[tuple[str, float | None, str]] = []

    @dagmill.node_type("t.progress")
    async def progress(params: None, inputs: Any, ctx: dagmill.NodeContext) -> None:
        ctx.progress(0.5, "half way")
        ctx.progress(message="still going")

    class Plugin:
        @dagmill.hookimpl
        def dagmill_node_types(self) -> list[dagmill.NodeType]:
            return [progress]

        @dagmill.hookimpl
        def dagmill_node_progress(self, node: dagmill.Node, fraction: float | None, message: str) -> None:
            reports.append((node.id, fraction, message))

    await arun({"nodes": [{"id": "p", "type": "t.progress"}]}, plugins=[Plugin()])
    assert reports == [("p", 0.5, "half way"), ("p", None, "still going")]


async def test_shared_objects_are_made_once_per_run_and_closed_at_its_end() -> None:
    opened: list[int] = []
    closed: list[int] = []

    @asynccontextmanager
    async def resource() -> AsyncIterator[int]:
        opened.append(len(opened))
        yield opened[-1]
        closed.append(opened[-1])

    @dagmill.node_type("t.shared")
    async def use(params: None, inputs: Any, ctx: dagmill.NodeContext) -> int:
        await trio.sleep(0)
        return await ctx.shared("thing", resource)

    class Plugin:
        @dagmill.hookimpl
        def dagmill_node_types(self) -> list[dagmill.NodeType]:
            return [use]

    doc = {"nodes": [{"id": f"u{i}", "type": "t.shared"} for i in range(5)]}
    first = await arun(doc, plugins=[Plugin()], max_concurrency=5)
    assert set(first.outputs.values()) == {0}
    second = await arun(doc, plugins=[Plugin()], max_concurrency=5)
    assert set(second.outputs.values()) == {1}
    assert closed == [0, 1]


@attrs.frozen
class _Remote(dagmill.Deferred):
    value: Any
    fetched: list[Any]

    async def fetch(self) -> Any:
        self.fetched.append(self.value)
        return self.value


async def test_deferred_outputs_pass_between_accepting_executors_and_are_fetched_for_others() -> None:
    fetched: list[Any] = []
    seen: list[tuple[str, Any]] = []

    class Remote(dagmill.Executor):
        name = "remote"
        produces_deferred = True
        accepts_deferred = True

        async def submit(self, node_type: dagmill.NodeType, params: Any, inputs: Any, ctx: dagmill.NodeContext) -> Any:
            seen.append((ctx.node_id, inputs))
            plain = [v.value if isinstance(v, _Remote) else v for v in inputs]
            return _Remote(node_type.func(params, plain, ctx), fetched)

    class Plugin:
        @dagmill.hookimpl
        def dagmill_executors(self) -> list[type[dagmill.Executor]]:
            return [Remote]

    doc = {
        "nodes": [
            {"id": "a", "type": "t.value", "params": {"value": 2}, "executor": "remote"},
            {"id": "b", "type": "t.sum", "executor": "remote"},
            {"id": "local", "type": "t.echo"},
            {"id": "sink", "type": "t.sum", "executor": "remote"},
        ],
        "edges": [{"source": "a", "target": "b"}, {"source": "a", "target": "local"}, {"source": "b", "target": "sink"}],
    }
    result = await arun(doc, scheduler="sequential", plugins=[Plugin()])
    assert result.outputs == {"local": [2], "sink": 2}
    assert isinstance(dict(seen)["b"][0], _Remote)
    assert fetched == [2, 2]


async def test_executor_choice_node_over_run_over_document_over_type() -> None:
    used: list[tuple[str, str]] = []

    def recording(executor_name: str) -> type[dagmill.Executor]:
        class Recording(dagmill.Executor):
            name = executor_name

            async def submit(self, node_type: dagmill.NodeType, params: Any, inputs: Any, ctx: dagmill.NodeContext) -> Any:
                used.append((ctx.node_id, executor_name))
                return None

        return Recording

    class Plugin:
        @dagmill.hookimpl
        def dagmill_executors(self) -> list[type[dagmill.Executor]]:
            return [recording("x"), recording("y"), recording("z")]

    doc = {
        "defaults": {"executor": "y"},
        "nodes": [{"id": "node", "type": "t.noop", "executor": "x"}, {"id": "other", "type": "t.noop"}],
    }
    await arun(doc, scheduler="sequential", plugins=[Plugin()], executor="z")
    await arun(doc, scheduler="sequential", plugins=[Plugin()])
    assert used == [("node", "x"), ("other", "z"), ("node", "x"), ("other", "y")]


async def test_bad_run_options_are_usage_errors_before_anything_runs(tmp_path: Path) -> None:
    doc = {"nodes": [{"id": "a", "type": "t.fail"}]}
    (tmp_path / "file").touch()
    for options, message in [
        ({"run_id": "../elsewhere"}, "run_id: expected up to 128 letters, digits, '.', '_' or '-', starting with a letter or digit, got '../elsewhere'"),
        ({"run_id": ""}, "run_id: expected up to 128 letters"),
        ({"workdir": tmp_path / "file" / "sub"}, f"workdir: {tmp_path / 'file'} exists and is not a directory"),
        ({"scheduler": "fastest"}, "unknown scheduler 'fastest'"),
        ({"max_concurrency": -1}, "max_concurrency: expected a number >= 0 or 'auto', got -1"),
        ({"fail_policy": "panic"}, "fail_policy: expected one of fail_fast, continue, got 'panic'"),
        ({"executor": "warp"}, "node 'a': unknown executor 'warp'"),
        ({"timeout": 0}, "timeout: expected a number of seconds > 0, got 0"),
    ]:
        with pytest.raises(dagmill.UsageError, match=re.escape(message)):
            await arun(doc, **options)


def test_run_is_the_sync_twin_of_arun() -> None:
    result = dagmill.run(diamond(3), plugins=[nodetypes], scheduler="ready", max_concurrency=2)
    assert result.outputs == {"merge": 6}
    assert result.max_concurrency == 2
    data = result.to_dict()
    assert set(data["nodes"]["root"]) >= {"status", "output", "error", "attempts", "level", "ready_at", "started_at", "ended_at"}


def test_auto_concurrency_is_bounded_by_cores() -> None:
    import os

    assert 1 <= dagmill.auto_concurrency() <= min(32, (os.cpu_count() or 1) + 4)


async def test_learned_estimates_reorder_the_ready_queue(autojump_clock: trio.testing.MockClock) -> None:
    durations = {"a": 1, "b": 1, "c": 1, "d": 10}
    doc = {"nodes": [{"id": x, "type": "t.sleep", "params": {"seconds": s}} for x, s in durations.items()]}

    class Learned:
        @dagmill.hookimpl
        def dagmill_node_estimate(self, node: dagmill.Node) -> float:
            return durations[node.id]

    blind = await arun(doc, scheduler="ready", max_concurrency=2)
    assert blind.duration == pytest.approx(11)
    informed = await arun(doc, scheduler="ready", max_concurrency=2, plugins=[Learned()])
    assert informed.nodes["d"].started_at == pytest.approx(0)
    assert informed.duration == pytest.approx(10)


async def test_cacheable_is_node_over_defaults_over_type(registry: dagmill.Registry) -> None:
    verdicts: dict[str, bool] = {}

    class Spy:
        @dagmill.hookimpl
        def dagmill_node_start(self, run: dagmill.Run, node: dagmill.Node) -> None:
            verdicts[node.id] = run.cacheable(node)

    cached_type = dagmill.node_type("t.cached", cache=True)(lambda p, i, c: None)

    class Types:
        @dagmill.hookimpl
        def dagmill_node_types(self) -> list[dagmill.NodeType]:
            return [cached_type]

    doc = {
        "nodes": [
            {"id": "plain", "type": "t.noop"},
            {"id": "by_type", "type": "t.cached"},
            {"id": "opted_out", "type": "t.cached", "cache": False},
            {"id": "opted_in", "type": "t.noop", "cache": True},
        ]
    }
    await arun(doc, plugins=[Spy(), Types()])
    assert verdicts == {"plain": False, "by_type": True, "opted_out": False, "opted_in": True}
    doc["defaults"] = {"cache": True}
    await arun(doc, plugins=[Spy(), Types()])
    assert verdicts == {"plain": True, "by_type": True, "opted_out": False, "opted_in": True}


async def test_plugins_add_facts_to_the_result() -> None:
    class Counter:
        @dagmill.hookimpl
        def dagmill_run_end(self, result: dagmill.RunResult) -> None:
            result.extras["counter"] = {"nodes": len(result.nodes)}

    result = await arun(diamond(), plugins=[Counter()])
    assert result.to_dict()["extras"] == {"counter": {"nodes": 4}}


class StallRecorder:
    def __init__(self) -> None:
        self.stalls: list[tuple[str, float, float]] = []

    @dagmill.hookimpl
    def dagmill_node_stalled(self, node: dagmill.Node, silent_for: float) -> None:
        self.stalls.append((node.id, silent_for, trio.current_time()))


async def test_silent_node_is_reported_stalled_once(autojump_clock: trio.testing.MockClock) -> None:
    recorder = StallRecorder()
    doc = {"nodes": [{"id": "quiet", "type": "t.sleep", "params": {"seconds": 10}, "stall_after": 2}]}
    result = await arun(doc, plugins=[recorder])
    assert result.nodes["quiet"].status is dagmill.Status.SUCCEEDED
    assert result.nodes["quiet"].stalled is True
    [(node_id, silent, _)] = recorder.stalls
    assert node_id == "quiet" and 2 < silent <= 2.5


async def test_heartbeats_keep_a_node_from_stalling(autojump_clock: trio.testing.MockClock) -> None:
    recorder = StallRecorder()
    doc = {"nodes": [{"id": "chatty", "type": "t.beat", "params": {"beats": 8, "every": 1}, "stall_after": 2}]}
    result = await arun(doc, plugins=[recorder])
    assert recorder.stalls == []
    assert result.nodes["chatty"].stalled is False
    assert result.nodes["chatty"].duration == pytest.approx(8)


async def test_explicit_estimate_sets_a_stall_threshold_of_three_times_it(autojump_clock: trio.testing.MockClock) -> None:
    recorder = StallRecorder()
    doc = {
        "nodes": [
            {"id": "estimated", "type": "t.sleep", "params": {"seconds": 5}, "estimate": 1},
            {"id": "unestimated", "type": "t.sleep", "params": {"seconds": 5}},
        ]
    }
    await arun(doc, plugins=[recorder], max_concurrency=2)
    assert [node_id for node_id, _, _ in recorder.stalls] == ["estimated"]


async def test_cancel_stalled_fails_the_stalled_node(autojump_clock: trio.testing.MockClock) -> None:
    doc = {"nodes": [{"id": "stuck", "type": "t.sleep", "params": {"seconds": 600}, "stall_after": 4}]}
    result = await arun(doc, cancel_stalled=True)
    stuck = result.nodes["stuck"]
    assert stuck.status is dagmill.Status.FAILED
    assert stuck.error == "NodeStalledError: stalled: no heartbeat for 4s"
    assert stuck.stalled is True
    assert 4 < stuck.duration <= 5  # type: ignore[operator]


async def test_an_executor_that_cannot_start_stops_the_run_before_it_is_announced() -> None:
    announced: list[str] = []

    class Unavailable(dagmill.Executor):
        name = "unavailable"

        async def __aenter__(self) -> dagmill.Executor:
            raise dagmill.UsageError("executor 'unavailable' needs the 'frob' package: pip install frob")

        async def submit(self, node_type: dagmill.NodeType, params: Any, inputs: Any, ctx: dagmill.NodeContext) -> Any:
            raise AssertionError("never dispatched")

    class Plugin:
        @dagmill.hookimpl
        def dagmill_executors(self) -> list[type[dagmill.Executor]]:
            return [Unavailable]

        @dagmill.hookimpl
        def dagmill_run_start(self) -> None:
            announced.append("start")

        @dagmill.hookimpl
        def dagmill_run_end(self) -> None:
            announced.append("end")

    with pytest.raises(dagmill.UsageError, match="pip install frob"):
        await arun({"nodes": [{"id": "a", "type": "t.noop", "executor": "unavailable"}]}, plugins=[Plugin()])
    assert announced == []


async def test_running_and_results_are_visible_while_the_run_goes(autojump_clock: trio.testing.MockClock) -> None:
    seen: list[tuple[list[str], str | None, bool]] = []

    class Watcher:
        @dagmill.hookimpl
        def dagmill_node_start(self, run: dagmill.Run, node: dagmill.Node) -> None:
            if node.id == "late":
                early = run.result(run.graph.index["early"])
                seen.append(([run.graph.ids[i] for i in run.running()], early and early.status.value, run.result(run.graph.index["late"]) is None))

    doc = {
        "nodes": [
            {"id": "early", "type": "t.sleep", "params": {"seconds": 1}},
            {"id": "long", "type": "t.sleep", "params": {"seconds": 5}},
            {"id": "late", "type": "t.sleep", "params": {"seconds": 1}},
        ],
        "edges": [{"source": "early", "target": "late"}],
    }
    await arun(doc, scheduler="ready", max_concurrency=4, plugins=[Watcher()])
    assert seen == [(["long", "late"], "succeeded", True)]
