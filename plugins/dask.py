"""The ``dask`` executor: node bodies on a dask.distributed cluster, for work that outgrows one machine.

``--dask-scheduler tcp://HOST:PORT`` uses an existing cluster; without it,
each run starts a ``LocalCluster`` on 127.0.0.1 (worker processes, one
thread each) and closes it at the end. Outputs stay on the workers: a dask
node's output is a :class:`DaskValue` (a ``dagmill.Deferred`` around the
future), downstream dask nodes get the futures themselves and dask moves
the data between workers; the engine pulls a value only for a consumer on
another executor and for the run's result.

A node still ends when its task ends, so statuses, retries, timeouts and
metrics mean what they mean elsewhere. Dask is an optional extra:
``pip install 'dagmill[dask]'``.
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import trio

import dagmill


class DaskValue(dagmill.Deferred):
    """A node output kept on the cluster: the future of the task that computed it."""

    __slots__ = ("future",)

    def __init__(self, future: Any) -> None:
        self.future = future

    async def fetch(self) -> Any:
        return await trio.to_thread.run_sync(self.future.result, abandon_on_cancel=True)


def _on_dask(node_type: dagmill.NodeType, params: Any, inputs: Any, ctx: Any) -> Any:
    """The task body on a dask worker (dask has already replaced input futures with their values)."""
    if node_type.is_async:
        return trio.run(functools.partial(node_type.func, params, inputs, ctx))
    return node_type.func(params, inputs, ctx)


class DaskExecutor(dagmill.Executor):
    """Submits each node as one task to a ``distributed.Client``; waits for it without pulling its result."""

    name = "dask"
    description = "node bodies on a dask.distributed cluster (a LocalCluster unless --dask-scheduler is given)"
    produces_deferred = True
    accepts_deferred = True

    async def __aenter__(self) -> DaskExecutor:
        try:
            import distributed
        except ImportError:
            raise dagmill.UsageError("the dask executor needs dask.distributed: pip install 'dagmill[dask]'") from None
        address = self.run.options.settings.get("dask_scheduler")
        workers = self.run.options.settings.get("dask_workers") or min(4, os.cpu_count() or 1)

        def connect() -> tuple[Any, Any]:
            if address:
                return None, distributed.Client(address, timeout=30)
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
            )
            return cluster, distributed.Client(cluster)

        try:
            self.cluster, self.client = await trio.to_thread.run_sync(connect)
        except OSError as exc:
            raise dagmill.UsageError(f"--dask-scheduler {address}: cannot connect: {exc}") from None
        self.token = trio.lowlevel.current_trio_token()
        self.settings = dict(self.run.options.settings)
        self._batch: list[list[Any]] = []
        self._mapped = trio.Event()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        def close() -> None:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()

        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(close)

    async def _submit(self, task: tuple[Any, ...]) -> Any:
        """Submit one task; tasks submitted in the same trio tick go to the scheduler in one ``client.map``."""
        slot: list[Any] = [task, None, False]  # the task, its future, whether its node stopped waiting
        self._batch.append(slot)
        if len(self._batch) == 1:
            await trio.lowlevel.cancel_shielded_checkpoint()  # let the nodes that became ready with this one join in
            batch, self._batch = self._batch, []
            columns = list(zip(*(entry[0] for entry in batch), strict=True))
            futures = self.client.map(_on_dask, *columns[:4], key=list(columns[4]), pure=False)
            for entry, future in zip(batch, futures, strict=True):
                entry[1] = future
            abandoned = [entry[1] for entry in batch if entry[2]]
            if abandoned:
                self.client.cancel(abandoned)
            self._mapped.set()
            self._mapped = trio.Event()
        else:
            try:
                await self._mapped.wait()
            except trio.Cancelled:
                slot[2] = True
                raise
        return slot[1]

    async def submit(self, node_type: dagmill.NodeType, params: Any, inputs: Any, ctx: dagmill.NodeContext) -> Any:
        if isinstance(inputs, dict):
            args: Any = {port: _unwrap(value) for port, value in inputs.items()}
        else:
            args = [_unwrap(value) for value in inputs]
        context = _Context(ctx.run_id, ctx.node_id, ctx.attempt, self.settings)
        future = await self._submit((node_type, params, args, context, f"{ctx.node_id}-{ctx.run_id}-{ctx.attempt}"))
        done = trio.Event()
        future.add_done_callback(lambda _: self.token.run_sync_soon(done.set))
        try:
            await done.wait()
        except trio.Cancelled:
            self.client.cancel([future])
            raise
        if future.status == "error":
            raise future.exception()
        if future.status == "cancelled":
            raise RuntimeError(f"dask cancelled the task of node {ctx.node_id!r}")
        return DaskValue(future)


class _Context:
    """``ctx`` on a dask worker: ids, attempt and settings (no variables, shared objects or progress)."""

    __slots__ = ("run_id", "node_id", "attempt", "settings")

    def __init__(self, run_id: str, node_id: str, attempt: int, settings: dict[str, Any]) -> None:
        self.run_id, self.node_id, self.attempt, self.settings = run_id, node_id, attempt, settings

    def progress(self, fraction: float | None = None, message: str = "") -> None:
        """Progress from a dask worker is not reported (accepted and dropped)."""


def _unwrap(value: Any) -> Any:
    return value.future if isinstance(value, DaskValue) else value


@dagmill.hookimpl
def dagmill_executors() -> Sequence[type[dagmill.Executor]]:
    return [DaskExecutor]


@dagmill.hookimpl
def dagmill_addoption(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dask-scheduler", metavar="ADDRESS", help="dask executor: use this cluster (tcp://HOST:PORT) instead of a LocalCluster")
    parser.add_argument("--dask-workers", type=int, metavar="N", help="dask executor: worker processes of the LocalCluster (default: min(4, cores))")
