"""Resume, cache and learned durations from the journal, in process, on trio's mock clock."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import dagmill
import journal_nodes
import nodetypes
from dagmill.cli import main as cli
from dagmill.plugins.journal import Journal
from journal_nodes import executions


@pytest.fixture
def effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "effects"
    monkeypatch.setenv("JOURNAL_EFFECTS", str(folder))
    return folder


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite3"


async def run(document: dict[str, Any], journal: Journal, **options: Any) -> dagmill.RunResult:
    return await dagmill.arun(document, plugins=[journal_nodes, nodetypes, journal], **options)


def statuses(result: dagmill.RunResult) -> dict[str, str]:
    return {node_id: node.status.value for node_id, node in result.nodes.items()}


def work(node_id: str, value: int = 1, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "d.work", "params": {"value": value}, **extra}


def diamond(bad: str = "none") -> dict[str, Any]:
    """top feeds left and right (right may fail once), both feed bottom; side stands alone."""
    return {
        "name": "diamond",
        "nodes": [work("top"), work("left", 2), {"id": "right", "type": "d.fault", "params": {"mode": bad}}, work("bottom", 3), work("side", 4)],
        "edges": [
            {"source": "top", "target": "left"},
            {"source": "top", "target": "right"},
            {"source": "left", "target": "bottom"},
            {"source": "right", "target": "bottom"},
        ],
    }


async def test_resume_reuses_what_succeeded_and_runs_the_rest(effects: Path, path: Path) -> None:
    first = await run(diamond("raise"), Journal(path), fail_policy="continue")
    assert statuses(first) == {"top": "succeeded", "left": "succeeded", "right": "failed", "bottom": "skipped", "side": "succeeded"}
    again = await run(diamond("raise"), Journal(path, resume=first.run_id))
    assert statuses(again) == {"top": "cached", "left": "cached", "right": "succeeded", "bottom": "succeeded", "side": "cached"}
    assert again.outputs == {"bottom": (1 + 2) + (1 + 1) + 3, "side": 4}
    assert executions(effects) == {"top": 1, "left": 1, "right": 2, "bottom": 1, "side": 1}
    assert again.extras["journal"]["reused"] == 3
    assert again.nodes["top"].attempts == 0


async def test_editing_one_node_reruns_it_and_everything_downstream_and_nothing_else(effects: Path, path: Path) -> None:
    first = await run(diamond(), Journal(path))
    assert first.ok
    edited = diamond()
    edited["nodes"][1]["params"]["value"] = 20  # left
    again = await run(edited, Journal(path, resume=first.run_id))
    assert statuses(again) == {"top": "cached", "left": "succeeded", "right": "cached", "bottom": "succeeded", "side": "cached"}
    assert again.outputs["bottom"] == (1 + 20) + (1 + 1) + 3


async def test_resuming_a_resumed_run_reaches_back_through_the_chain(effects: Path, path: Path) -> None:
    first = await run(diamond("raise"), Journal(path), fail_policy="continue")
    edited = diamond("raise")
    edited["nodes"][4]["params"]["value"] = 40  # side
    second = await run(edited, Journal(path, resume=first.run_id))
    third = await run(edited, Journal(path, resume=second.run_id))
    assert set(statuses(third).values()) == {"cached"}
    assert third.nodes["top"].status is dagmill.Status.CACHED
    assert executions(effects) == {"top": 1, "left": 1, "right": 2, "bottom": 1, "side": 2}


async def test_a_node_is_not_reused_when_an_input_was_computed_again(effects: Path, path: Path) -> None:
    document = {
        "name": "big",
        "nodes": [{"id": "big", "type": "d.blob", "params": {"size": 100}}, work("after")],
        "edges": [{"source": "big", "target": "after"}],
    }
    with Journal(path, max_output=50) as journal:
        first = await run(document, journal)
    assert first.extras["journal"]["unstored"] == {"big": "the output is 102 bytes, over the journal's cap of 50 bytes (--journal-cap)"}
    with Journal(path, resume=first.run_id, max_output=50) as journal:
        again = await run(document, journal)
    # "after" was stored, but the output it was computed from was not: it runs again on the new one
    assert statuses(again) == {"big": "succeeded", "after": "succeeded"}
    assert again.outputs == {"after": 101}


async def test_outputs_are_stored_with_their_declared_serializer(effects: Path, path: Path) -> None:
    document = {
        "name": "kinds",
        "nodes": [
            {"id": "pickled", "type": "d.pair", "params": {"value": 5}},
            {"id": "tupled", "type": "d.tuple", "params": {"value": 6}},
            work("after"),
        ],
        "edges": [{"source": "pickled", "target": "after"}],
    }
    first = await run(document, Journal(path))
    assert "serializer='pickle'" in first.extras["journal"]["unstored"]["tupled"]
    with sqlite3.connect(path) as conn:
        stored = dict(conn.execute("SELECT node_id, serializer FROM events WHERE status = 'succeeded'"))
    assert stored == {"pickled": "pickle", "tupled": None, "after": "json"}
    again = await run(document, Journal(path, resume=first.run_id), keep_outputs=True)
    assert statuses(again) == {"pickled": "cached", "tupled": "succeeded", "after": "cached"}
    assert again.nodes["pickled"].output == (5, frozenset({"pickled"}))
    assert again.nodes["after"].output == 6


async def test_unknown_run_other_workflow_and_taken_run_id_are_usage_errors(effects: Path, path: Path) -> None:
    with pytest.raises(dagmill.UsageError, match="--resume nope: no such run in journal"):
        Journal(path, resume="nope")
    first = await run(diamond(), Journal(path), run_id="r1")
    other = diamond()
    other["name"] = "other"
    with pytest.raises(dagmill.UsageError, match="that run is of workflow 'diamond', not 'other'"):
        await run(other, Journal(path, resume=first.run_id))
    with pytest.raises(dagmill.UsageError, match="run id 'r1' is already recorded"):
        await run(diamond(), Journal(path), run_id="r1")
    assert executions(effects) == {"top": 1, "left": 1, "right": 1, "bottom": 1, "side": 1}


def cached_type(version: str) -> object:
    @dagmill.node_type("d.cached", version=version, cache=True)
    def cached(params: None, inputs: Any, ctx: dagmill.NodeContext) -> int:
        """A cacheable node: record the execution, output 7 plus the inputs."""
        journal_nodes.record(ctx.node_id)
        return 7 + sum(inputs)

    class Types:
        @dagmill.hookimpl
        def dagmill_node_types(self) -> list[dagmill.NodeType]:
            return [cached]

    return Types()


async def test_cache_reuses_outputs_by_fingerprint_across_runs_and_workflows(effects: Path, path: Path) -> None:
    def document(name: str, value: int = 1) -> dict[str, Any]:
        nodes = [work("src", value), {"id": "slow", "type": "d.cached"}, work("plain", 2)]
        return {"name": name, "nodes": nodes, "edges": [{"source": "src", "target": "slow"}, {"source": "slow", "target": "plain"}]}

    async def go(doc: dict[str, Any], version: str = "1", **journal_options: Any) -> dagmill.RunResult:
        with Journal(path, **journal_options) as journal:
            return await dagmill.arun(doc, plugins=[journal_nodes, cached_type(version), journal])

    first = await go(document("one"))
    assert first.extras["cache"] == {"hits": 0, "misses": 1}
    other = await go(document("two"))
    assert statuses(other) == {"src": "succeeded", "slow": "cached", "plain": "succeeded"}
    assert other.extras["cache"] == {"hits": 1, "misses": 0}
    assert other.outputs == {"plain": 1 + 7 + 2}
    assert (await go(document("two", value=5))).extras["cache"] == {"hits": 0, "misses": 1}
    assert (await go(document("two"), version="2")).extras["cache"] == {"hits": 0, "misses": 1}
    uncached = await go(document("two"), cache=False)
    assert "cache" not in uncached.extras and uncached.nodes["slow"].status is dagmill.Status.SUCCEEDED
    assert executions(effects)["slow"] == 4


async def test_learned_durations_reorder_the_ready_queue(autojump_clock: trio.testing.MockClock, path: Path) -> None:
    durations = {"a": 1, "b": 1, "c": 1, "d": 10}
    doc = {"name": "learn", "nodes": [{"id": x, "type": "t.sleep", "params": {"seconds": s}} for x, s in durations.items()]}
    blind = await run(doc, Journal(path), scheduler="ready", max_concurrency=2)
    assert blind.duration == pytest.approx(11)
    informed = await run(doc, Journal(path), scheduler="ready", max_concurrency=2)
    assert informed.nodes["d"].started_at == pytest.approx(0)
    assert informed.duration == pytest.approx(10)


async def test_learned_durations_fall_back_to_the_node_id_when_the_definition_changed(autojump_clock: trio.testing.MockClock, path: Path) -> None:
    durations = {"a": 1, "b": 1, "c": 1, "d": 10}
    doc = {"name": "learn", "nodes": [{"id": x, "type": "t.sleep", "params": {"seconds": s}} for x, s in durations.items()]}
    await run(doc, Journal(path), scheduler="ready", max_concurrency=2)
    doc["nodes"][3]["params"]["seconds"] = 9  # a new fingerprint: the estimate comes from d's history in this workflow
    informed = await run(doc, Journal(path), scheduler="ready", max_concurrency=2)
    assert informed.nodes["d"].started_at == pytest.approx(0)


async def test_stalled_nodes_are_recorded_and_shown(
    autojump_clock: trio.testing.MockClock, path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = {"name": "quiet", "nodes": [{"id": "quiet", "type": "t.sleep", "params": {"seconds": 10}, "stall_after": 2}]}
    result = await run(doc, Journal(path))
    assert result.nodes["quiet"].stalled
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT status, stalled, detail FROM events WHERE node_id = 'quiet' ORDER BY id").fetchall()
    assert [row[:2] for row in rows] == [("stalled", 1), ("succeeded", 1)]
    assert rows[0][2].startswith("no heartbeat for 2.")
    assert cli(["show", result.run_id, "--journal", str(path)]) == 0
    assert "  stalled quiet: no heartbeat for 2." in capsys.readouterr().out
    assert cli(["show", result.run_id, "--journal", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["nodes"]["quiet"]["stalled"] is True


async def test_runs_and_show_list_what_the_journal_holds(effects: Path, path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = await run(diamond("raise"), Journal(path), fail_policy="continue", run_id="first")
    await run(diamond("raise"), Journal(path, resume=first.run_id), run_id="second")
    assert cli(["runs", "--journal", str(path), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [(r["run_id"], r["status"], r["resumed_from"]) for r in runs] == [("second", "succeeded", "first"), ("first", "failed", None)]
    assert runs[0]["counts"] == {"cached": 3, "succeeded": 2}
    assert cli(["runs", "--journal", str(path)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["RUN", "ID", "WORKFLOW", "STATUS", "STARTED", "DURATION", "NODES"]
    assert listing[1].startswith("second ") and "(resumed first)" in listing[1]
    assert cli(["show", "first", "--journal", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "run first of 'diamond': failed" in shown
    assert "nodes: 1 failed, 1 skipped, 3 succeeded" in shown
    assert "failed right after 1 attempt(s): RuntimeError: right fails on purpose" in shown
    assert "resume with: dagmill run FILE --resume first" in shown
    assert cli(["show", "nope", "--journal", str(path)]) == 2
    assert "no run 'nope' in journal" in capsys.readouterr().err


async def test_runs_lists_all_for_a_limit_of_zero_below_or_past_what_sqlite_counts(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for k in range(3):
        await run({"nodes": [{"id": "a", "type": "t.noop"}]}, Journal(path), run_id=f"r{k}")
    capsys.readouterr()
    for limit, shown in (("2", ["r2", "r1"]), ("0", ["r2", "r1", "r0"]), ("-1", ["r2", "r1", "r0"]), (str(2**64), ["r2", "r1", "r0"])):
        assert cli(["runs", "--journal", str(path), "--json", "--limit", limit]) == 0, capsys.readouterr().err
        assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == shown, limit
