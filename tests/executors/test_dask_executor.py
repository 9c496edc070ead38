"""The dask executor against a real dask.distributed LocalCluster on 127.0.0.1."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dagmill
import nodetypes
from conftest import child_processes

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
