"""The thread and process executors: same outputs, real workers, crashes, pickling, workdirs, cancellation."""

from __future__ import annotations

import multiprocessing.resource_tracker
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import trio

import dagmill
import nodetypes
from conftest import child_processes

EXECUTORS = ["inline", "thread", "process"]


async def arun(document: dict[str, Any], **options: Any) -> dagmill.RunResult:
    return await dagmill.arun(document, plugins=[nodetypes], **options)


def diamond() -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "root", "type": "t.value", "params": {"value": 5}},
            {"id": "left", "type": "t.spin", "params": {"rounds": 20_000}},
            {"id": "right", "type": "t.spin", "params": {"rounds": 30_000}},
            {"id": "merge", "type": "t.sum"},
        ],
        "edges": [
            {"source": "root", "target": "left"},
            {"source": "root", "target": "right"},
            {"source": "left", "target": "merge"},
            {"source": "right", "target": "merge"},
        ],
    }


async def test_every_executor_gives_the_same_outputs() -> None:
    outputs = [(await arun(diamond(), executor=name)).outputs for name in EXECUTORS]
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0]["merge"] == sum(i * i for i in range(20_000)) % 1_000_003 + sum(i * i for i in range(30_000)) % 1_000_003 + 10


async def test_nodes_run_where_their_executor_says(tmp_path: Path) -> None:
    doc = {
        "nodes": [
            {"id": "here", "type": "t.pid"},
            {"id": "threaded", "type": "t.pid", "executor": "thread"},
            *({"id": f"worker{k}", "type": "t.pid", "executor": "process", "params": {"seconds": 0.3}} for k in range(2)),
        ]
    }
    result = await arun(doc, max_concurrency=4, workdir=tmp_path)
    out = {node_id: node.output for node_id, node in result.nodes.items()}
    assert out["here"]["pid"] == os.getpid() and out["here"]["thread"] == threading.current_thread().name
    assert out["threaded"]["pid"] == os.getpid() and out["threaded"]["thread"] != threading.current_thread().name
    workers = {out["worker0"]["pid"], out["worker1"]["pid"]}
    assert os.getpid() not in workers and len(workers) == 2
    assert out["worker0"]["cwd"] == str(tmp_path / "worker0")


async def test_the_pool_warms_up_while_earlier_nodes_run() -> None:
    multiprocessing.resource_tracker.ensure_running()  # the interpreter's one tracker, which spawning a worker starts
    before = child_processes()
    started: list[set[int]] = []

    @dagmill.node_type("t.wait_for_a_worker")
    async def wait_for_a_worker(params: None, inputs: Any, ctx: dagmill.NodeContext) -> None:
        with trio.fail_after(60):
            while not child_processes() - before:
                await trio.sleep(0.01)
        started.append(child_processes() - before)

    class Plugin:
        @dagmill.hookimpl
        def dagmill_node_types(self) -> list[dagmill.NodeType]:
            return [wait_for_a_worker]

    doc = {
        "nodes": [{"id": "first", "type": "t.wait_for_a_worker"}, {"id": "cpu", "type": "t.pid", "executor": "process"}],
        "edges": [{"source": "first", "target": "cpu"}],
    }
    result = await dagmill.arun(doc, plugins=[nodetypes, Plugin()])
    assert result.nodes["cpu"].output["pid"] in started[0]  # type: ignore[index]


async def test_a_dead_worker_fails_its_node_and_the_pool_recovers() -> None:
    doc = {
        "nodes": [
            {"id": "crash", "type": "t.die", "executor": "process"},
            {"id": "after", "type": "t.spin", "params": {"rounds": 10}, "executor": "process"},
        ],
        "edges": [{"source": "crash", "target": "after"}],
    }
    doc["nodes"].append({"id": "independent", "type": "t.pid", "executor": "process"})
    result = await arun(doc, fail_policy="continue", scheduler="sequential")
    assert result.nodes["crash"].status is dagmill.Status.FAILED
    assert result.nodes["crash"].error.startswith("WorkerDied: the worker process running node 'crash' died")  # type: ignore[union-attr]
    assert result.nodes["after"].status is dagmill.Status.SKIPPED
    assert result.nodes["independent"].status is dagmill.Status.SUCCEEDED


async def test_a_dead_worker_is_retried_by_policy() -> None:
    marker_doc = {"nodes": [{"id": "crash", "type": "t.die", "executor": "process", "retries": 1, "retry_backoff": 0}]}
    result = await arun(marker_doc)
    assert result.nodes["crash"].attempts == 2
    assert result.nodes["crash"].status is dagmill.Status.FAILED


async def test_unpicklable_inputs_and_outputs_name_the_node() -> None:
    doc = {
        "nodes": [
            {"id": "lock", "type": "t.lock"},
            {"id": "consumer", "type": "t.echo", "executor": "process"},
            {"id": "producer", "type": "t.lock", "executor": "process"},
        ],
        "edges": [{"source": "lock", "target": "consumer"}],
    }
    result = await arun(doc, fail_policy="continue")
    assert result.nodes["consumer"].error.startswith("TypeError: node 'consumer' cannot be sent to a worker process: ")  # type: ignore[union-attr]
    assert "pickle" in result.nodes["producer"].error  # type: ignore[operator]


async def test_workdirs_are_removed_on_success_and_kept_on_failure(tmp_path: Path) -> None:
    doc = {
        "nodes": [
            {"id": "good", "type": "t.touch", "executor": "process"},
            {"id": "word", "type": "t.value", "params": {"value": "fail"}},
            {"id": "bad", "type": "t.touch", "executor": "process"},
        ],
        "edges": [{"source": "word", "target": "bad"}],
    }
    result = await arun(doc, fail_policy="continue", workdir=tmp_path)
    assert result.nodes["good"].output == "made-here.txt"
    assert not (tmp_path / "good").exists()
    assert (tmp_path / "bad" / "made-here.txt").read_text() == "bad"
    assert result.extras["kept_workdirs"] == {"bad": str(tmp_path / "bad")}
    kept = await arun(doc, fail_policy="continue", workdir=tmp_path / "kept", settings={"keep_workdirs": True})
    assert (tmp_path / "kept" / "good" / "made-here.txt").exists()
    assert kept.nodes["good"].status is dagmill.Status.SUCCEEDED


async def test_fail_fast_kills_running_process_nodes_and_leaves_no_worker(tmp_path: Path) -> None:
    before = child_processes()
    doc = {
        "nodes": [
            {"id": "long", "type": "t.pid", "executor": "process", "params": {"seconds": 60, "marker": str(tmp_path / "pid")}},
            {"id": "bad", "type": "t.fail", "params": {"after": 1}},
        ]
    }
    started = time.monotonic()
    result = await arun(doc, max_concurrency=2)
    assert time.monotonic() - started < 30
    assert result.nodes["long"].status is dagmill.Status.CANCELLED
    worker = int((tmp_path / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)
    assert child_processes() <= before


async def test_a_cancelled_thread_is_abandoned_and_the_result_says_so() -> None:
    doc = {"nodes": [{"id": "blocked", "type": "t.pid", "executor": "thread", "params": {"seconds": 2}, "timeout": 0.1}]}
    result = await arun(doc)
    assert result.nodes["blocked"].error == "NodeTimeoutError: timed out after 0.1s"
    assert result.extras["abandoned_threads"] == ["blocked"]


async def test_progress_from_a_thread_reaches_the_hook() -> None:
    reports: list[float | None] = []

    @dagmill.node_type("t.threaded_progress", executor="thread")
    def report(params: None, inputs: Any, ctx: dagmill.NodeContext) -> None:
        ctx.progress(0.5)

    class Plugin:
        @dagmill.hookimpl
        def dagmill_node_types(self) -> list[dagmill.NodeType]:
            return [report]

        @dagmill.hookimpl
        def dagmill_node_progress(self, fraction: float | None) -> None:
            reports.append(fraction)

    await dagmill.arun({"nodes": [{"id": "p", "type": "t.threaded_progress"}]}, plugins=[Plugin()])
    assert reports == [0.5]


def test_ctrl_c_reaches_a_process_node_and_leaves_no_stray_process(plugin_env: dict[str, str], tmp_path: Path) -> None:
    import json

    marker = tmp_path / "pid"
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"nodes": [{"id": "long", "type": "t.pid", "executor": "process", "params": {"seconds": 600, "marker": str(marker)}}]}))
    with subprocess.Popen([sys.executable, "-m", "dagmill", "run", str(flow), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=plugin_env, cwd=tmp_path) as proc:
        deadline = time.monotonic() + 60
        while not marker.exists() or not marker.read_text():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the worker never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert json.loads(out)["nodes"]["long"]["status"] == "cancelled"
    with pytest.raises(ProcessLookupError):
        os.kill(int(marker.read_text()), 0)


