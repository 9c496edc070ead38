"""The dask executor against a real dask.distributed LocalCluster on 127.0.0.1."""

from __future__ import annotations

import json
import multiprocessing.resource_tracker
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dagmill
import nodetypes
from conftest import chain, child_processes

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed: pip install 'dagmill[dask]'")

from dagmill.plugins import dask as dask_plugin  # noqa: E402


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """One small cluster for the module: two worker processes, one thread each; a task that kills its worker is not retried."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0") as local:
            yield local.scheduler_address


def flow() -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "root", "type": "t.value", "params": {"value": 5}},
            {"id": "left", "type": "t.spin", "params": {"rounds": 20_000}, "executor": "dask"},
            {"id": "right", "type": "t.spin", "params": {"rounds": 30_000}, "executor": "dask"},
            {"id": "merge", "type": "t.sum", "executor": "dask"},
            {"id": "local", "type": "t.echo"},
        ],
        "edges": [
            {"source": "root", "target": "left"},
            {"source": "root", "target": "right"},
            {"source": "left", "target": "merge"},
            {"source": "right", "target": "merge"},
            {"source": "left", "target": "local"},
        ],
    }


async def test_same_outputs_as_inline_with_data_kept_on_the_workers(cluster: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fetched: list[str] = []
    original = dask_plugin.DaskValue.fetch

    async def counting(self: dask_plugin.DaskValue) -> Any:
        fetched.append(self.future.key)
        return await original(self)

    monkeypatch.setattr(dask_plugin.DaskValue, "fetch", counting)
    on_dask = await dagmill.arun(flow(), plugins=[nodetypes], settings={"dask_scheduler": cluster})
    reference = flow()
    for node in reference["nodes"]:
        node.pop("executor", None)
    fetched_by_dask = list(fetched)
    inline = await dagmill.arun(reference, plugins=[nodetypes])
    assert on_dask.outputs == inline.outputs
    assert fetched == fetched_by_dask
    # only the local consumer's input and the sink's output came back; right's output went worker to worker
    assert sorted(key.split("-")[0] for key in fetched) == ["left", "merge"]


async def test_a_task_error_fails_its_node(cluster: str) -> None:
    doc = {"nodes": [{"id": "bad", "type": "t.fail", "params": {"message": "on a worker"}, "executor": "dask"}]}
    result = await dagmill.arun(doc, plugins=[nodetypes], settings={"dask_scheduler": cluster})
    assert result.nodes["bad"].error == "RuntimeError: on a worker"


async def test_a_killed_worker_fails_the_node_and_the_run_goes_on(cluster: str) -> None:
    doc = {
        "nodes": [
            {"id": "crash", "type": "t.die", "executor": "dask"},
            {"id": "fine", "type": "t.spin", "params": {"rounds": 10}, "executor": "dask"},
        ],
        "edges": [{"source": "crash", "target": "fine"}],
    }
    doc["nodes"].append({"id": "independent", "type": "t.spin", "params": {"rounds": 10}, "executor": "dask"})
    started = time.monotonic()
    result = await dagmill.arun(doc, plugins=[nodetypes], settings={"dask_scheduler": cluster}, fail_policy="continue", timeout=120)
    assert time.monotonic() - started < 120
    assert result.nodes["crash"].status is dagmill.Status.FAILED
    assert "KilledWorker" in result.nodes["crash"].error  # type: ignore[operator]
    assert result.nodes["fine"].status is dagmill.Status.SKIPPED
    assert result.nodes["independent"].status is dagmill.Status.SUCCEEDED


async def test_fail_fast_cancels_dask_nodes_and_the_run_cluster_leaves_no_process(tmp_path: Path) -> None:
    multiprocessing.resource_tracker.ensure_running()  # the interpreter's one tracker, which a LocalCluster starts and keeps
    before = child_processes()
    doc = {
        "nodes": [
            {"id": "long", "type": "t.pid", "executor": "dask", "params": {"seconds": 60}},
            {"id": "bad", "type": "t.fail", "params": {"after": 3}},
        ]
    }
    started = time.monotonic()
    result = await dagmill.arun(doc, plugins=[nodetypes], max_concurrency=2, settings={"dask_workers": 1})
    assert time.monotonic() - started < 45
    assert result.nodes["long"].status is dagmill.Status.CANCELLED
    assert child_processes() <= before


async def test_missing_dask_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(dagmill.UsageError, match=r"the dask executor needs dask.distributed: pip install 'dagmill\[dask\]'"):
        await dagmill.arun({"nodes": [{"id": "a", "type": "t.noop", "executor": "dask"}]}, plugins=[nodetypes])


def recorded_submissions(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Make ``Client.get`` record, per call, the node ids of the tasks it submits."""
    calls: list[list[str]] = []
    original = distributed.Client.get

    def recording(self: Any, dsk: dict[str, Any], keys: Any, **kwargs: Any) -> Any:
        calls.append([key.split("-")[0] for key in dsk])
        return original(self, dsk, keys, **kwargs)

    monkeypatch.setattr(distributed.Client, "get", recording)
    return calls


def on_dask(document: dict[str, Any]) -> dict[str, Any]:
    for node in document["nodes"]:
        node["executor"] = "dask"
    return document


async def test_a_dask_chain_goes_to_the_scheduler_in_one_submission(cluster: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = recorded_submissions(monkeypatch)
    result = await dagmill.arun(on_dask(chain(4)), plugins=[nodetypes], settings={"dask_scheduler": cluster}, max_concurrency=0)
    assert result.outputs == {"n3": 1}
    assert calls == [["n0", "n1", "n2", "n3"]]


async def test_a_node_that_ran_ahead_of_a_retried_upstream_runs_again_on_the_retry_output(cluster: str) -> None:
    doc = on_dask(
        {
            "nodes": [{"id": "flaky", "type": "t.flaky", "retries": 1, "retry_backoff": 0}, {"id": "after", "type": "t.sum"}],
            "edges": [{"source": "flaky", "target": "after"}],
        }
    )
    result = await dagmill.arun(doc, plugins=[nodetypes], settings={"dask_scheduler": cluster}, max_concurrency=0)
    assert result.nodes["flaky"].attempts == 2
    assert (result.nodes["after"].status, result.nodes["after"].output, result.nodes["after"].attempts) == (dagmill.Status.SUCCEEDED, 2, 1)


async def test_nodes_do_not_run_ahead_when_a_plugin_can_answer_from_a_store(cluster: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class Store:
        @dagmill.hookimpl
        def dagmill_node_lookup(self, node: dagmill.Node) -> dagmill.StoredResult | None:
            return dagmill.StoredResult(7, "store") if node.id == "stored" else None

    calls = recorded_submissions(monkeypatch)
    doc = on_dask(
        {
            "nodes": [
                {"id": "first", "type": "t.value", "params": {"value": 1}},
                {"id": "stored", "type": "t.pid", "params": {"marker": str(tmp_path / "ran")}},
                {"id": "last", "type": "t.echo"},
            ],
            "edges": [{"source": "first", "target": "stored"}, {"source": "stored", "target": "last"}],
        }
    )
    result = await dagmill.arun(doc, plugins=[nodetypes, Store()], settings={"dask_scheduler": cluster}, max_concurrency=0)
    assert result.outputs == {"last": [7]}
    assert result.nodes["stored"].status is dagmill.Status.CACHED
    assert calls == [["first"], ["last"]]
    assert not (tmp_path / "ran").exists()


async def test_nodes_outside_a_stores_scope_run_ahead(cluster: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class ScopedStore:
        @dagmill.hookimpl
        def dagmill_lookup_scope(self, run: dagmill.Run) -> list[int]:
            return [run.graph.index["stored"]]

        @dagmill.hookimpl
        def dagmill_node_lookup(self, node: dagmill.Node) -> dagmill.StoredResult | None:
            assert node.id == "stored"
            return dagmill.StoredResult(7, "store")

    calls = recorded_submissions(monkeypatch)
    doc = on_dask(
        {
            "nodes": [
                {"id": "stored", "type": "t.pid", "params": {"marker": str(tmp_path / "ran")}},
                *chain(3)["nodes"],
            ],
            "edges": chain(3)["edges"],
        }
    )
    result = await dagmill.arun(doc, plugins=[nodetypes, ScopedStore()], settings={"dask_scheduler": cluster}, max_concurrency=0)
    assert result.nodes["stored"].status is dagmill.Status.CACHED
    assert calls == [["n0", "n1", "n2"]]


async def test_a_journaled_dask_chain_still_goes_to_the_scheduler_in_one_submission(
    cluster: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dagmill.plugins.journal import Journal

    calls = recorded_submissions(monkeypatch)
    with Journal(tmp_path / "journal.sqlite3") as journal:
        result = await dagmill.arun(on_dask(chain(4)), plugins=[nodetypes, journal], settings={"dask_scheduler": cluster}, max_concurrency=0)
    assert result.outputs == {"n3": 1}
    assert calls == [["n0", "n1", "n2", "n3"]]


async def test_a_killed_worker_is_retried_by_policy(cluster: str) -> None:
    doc = {"nodes": [{"id": "crash", "type": "t.die", "executor": "dask", "retries": 1, "retry_backoff": 0}]}
    result = await dagmill.arun(doc, plugins=[nodetypes], settings={"dask_scheduler": cluster}, timeout=120)
    assert result.nodes["crash"].status is dagmill.Status.FAILED
    assert result.nodes["crash"].attempts == 2
    assert "KilledWorker" in result.nodes["crash"].error  # type: ignore[operator]


async def test_mixed_executors_in_one_run_pass_outputs_along(cluster: str) -> None:
    doc = {
        "nodes": [
            {"id": "start", "type": "t.value", "params": {"value": 3}},
            {"id": "squares", "type": "t.spin", "params": {"rounds": 10}, "executor": "process"},
            {"id": "total", "type": "t.sum", "executor": "dask"},
            {"id": "listed", "type": "t.echo", "executor": "thread"},
            *({"id": f"where-{name}", "type": "t.pid", "executor": name} for name in ("inline", "thread", "process", "dask")),
        ],
        "edges": [
            {"source": "start", "target": "squares"},
            {"source": "squares", "target": "total"},
            {"source": "total", "target": "listed"},
        ],
    }
    result = await dagmill.arun(doc, plugins=[nodetypes], settings={"dask_scheduler": cluster}, max_concurrency=0)
    assert result.outputs["listed"] == [sum(i * i for i in range(10)) + 3]
    pids = {name: result.outputs[f"where-{name}"]["pid"] for name in ("inline", "thread", "process", "dask")}
    assert pids["inline"] == pids["thread"] == os.getpid()
    assert len({pids["inline"], pids["process"], pids["dask"]}) == 3


def test_ctrl_c_reaches_a_dask_node_and_leaves_no_stray_process(plugin_env: dict[str, str], tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"nodes": [{"id": "long", "type": "t.pid", "params": {"seconds": 600, "marker": str(marker)}}]}))
    command = [sys.executable, "-m", "dagmill", "run", str(flow), "--json", "--executor", "dask", "--dask-workers", "1"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=plugin_env, cwd=tmp_path) as proc:
        deadline = time.monotonic() + 120
        while not marker.exists() or not marker.read_text():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the dask worker never started the node"
            time.sleep(0.05)
        worker = int(marker.read_text())
        nanny = int(Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[1])
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert json.loads(out)["nodes"]["long"]["status"] == "cancelled"
    for pid in (worker, nanny):
        assert not alive(pid, within=10), f"process {pid} outlived the run"


def alive(pid: int, within: float) -> bool:
    """Whether process ``pid`` still exists ``within`` seconds from now (a zombie counts as gone)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        if state == "Z":
            return False
        time.sleep(0.05)
    return True


NOT_AN_ADDRESS = {
    "no port": ("bogus", "missing port number in address 'bogus'"),
    "port not a number": ("tcp://host:notaport", "invalid literal for int() with base 10: 'notaport'"),
    "port out of range": ("tcp://127.0.0.1:99999", "port 99999 is not a number from 1 to 65535"),
    "unknown scheme": ("foo://host:8786", "unknown address scheme 'foo'"),
    "tls without certificates": ("tls://127.0.0.1:8786", "TLS expects a `ssl_context` argument"),
}


@pytest.mark.parametrize(("address", "why"), NOT_AN_ADDRESS.values(), ids=NOT_AN_ADDRESS.keys())
def test_a_scheduler_address_that_cannot_be_used_is_an_error_before_nodes_run(
    dagmill_cli: Any, write_json: Any, tmp_path: Path, address: str, why: str
) -> None:
    marker = tmp_path / "ran"
    flow = {"nodes": [{"id": "a", "type": "t.sleep", "params": {"seconds": 0, "marker": str(marker)}}]}
    done = dagmill_cli("run", str(write_json(flow)), "--no-journal", "--executor", "dask", "--dask-scheduler", address, timeout=60)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"dagmill: error: --dask-scheduler {address}: not an address to connect to ("), line
    assert why in line and line.endswith("; expected tcp://HOST:PORT")
    assert not marker.exists()


async def test_a_scheduler_address_that_cannot_be_used_is_a_usage_error_in_code_too() -> None:
    with pytest.raises(dagmill.UsageError, match=r"^--dask-scheduler tcp://host:notaport: not an address to connect to \("):
        await dagmill.arun({"nodes": [{"id": "a", "type": "t.noop", "executor": "dask"}]}, plugins=[nodetypes], settings={"dask_scheduler": "tcp://host:notaport"})


@pytest.mark.parametrize("workers", ["-1", "0", "two"])
def test_fewer_than_one_dask_worker_is_an_error_before_anything_starts(dagmill_cli: Any, write_json: Any, workers: str) -> None:
    flow = {"nodes": [{"id": "a", "type": "t.noop"}]}
    for args, env in ((["--dask-workers", workers], {}), ([], {"DAGMILL_DASK_WORKERS": workers})):
        done = dagmill_cli("run", str(write_json(flow)), "--no-journal", "--executor", "dask", *args, env=env, timeout=30)
        assert done.returncode == 2, done.stderr
        assert done.stderr.splitlines()[-1].endswith(f"expected a number of worker processes >= 1, got {workers!r}"), done.stderr


@pytest.mark.parametrize("workers", [0, 1.5, "2"])  # -1 too, but before the check it hung past any cancellation
async def test_fewer_than_one_dask_worker_is_a_usage_error_in_code_too(workers: Any) -> None:
    with pytest.raises(dagmill.UsageError, match=rf"^dask_workers: expected a number of worker processes >= 1, got {workers!r}$"):
        await dagmill.arun({"nodes": [{"id": "a", "type": "t.noop", "executor": "dask"}]}, plugins=[nodetypes], settings={"dask_workers": workers})
