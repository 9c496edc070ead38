"""The ``dask`` executor: node bodies on a dask.distributed cluster, for work that outgrows one machine.

``--dask-scheduler tcp://HOST:PORT`` uses an existing cluster; without it,
each run starts a ``LocalCluster`` on 127.0.0.1 (worker processes, one
thread each) and closes it at the end. Outputs stay on the workers: a dask
node's output is a :class:`DaskValue` (a ``dagmill.Deferred`` around the
future), downstream dask nodes get the futures themselves and dask moves
the data between workers; the engine pulls a value only for a consumer on
another executor and for the run's result.

Nodes run ahead. When a dask node is submitted, the dask nodes downstream
of it whose inputs all come from dask nodes are submitted with it, each
depending on its inputs' futures, so the cluster starts each one the
moment its inputs exist instead of after a round trip through the engine.
The engine still starts and ends every node itself, so statuses, retries,
timeouts and metrics keep their meaning: starting a node takes over the
task that ran ahead for it when that task was built from the very futures
the engine passes, and submits a new task otherwise. With a
``max_concurrency`` limit, at most that many tasks that ran ahead are
unfinished at a time. A node never runs ahead when a lookup plugin may
answer for it (``run.may_look_up``: a stored result could make the run skip
it; the journal names only the nodes it holds outputs for), when a plugin
answers ``dagmill_node_resources``, nor when it uses resource pools. Dask is an
optional extra: ``pip install 'dagmill[dask]'``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import heapq
import itertools
import math
import os
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import trio

import dagmill


class DaskValue(dagmill.Deferred):
    """A node output kept on the cluster: the future of the task that computed it."""

    __slots__ = ("future", "_executor")

    def __init__(self, future: Any, executor: DaskExecutor) -> None:
        self.future, self._executor = future, executor

    async def fetch(self) -> Any:
        return await self._executor.fetch(self.future)


class _Gathering:
    """Futures whose values one ``client.gather`` fetches, and then the values (``None``: fetch one by one)."""

    __slots__ = ("futures", "values", "done")

    def __init__(self) -> None:
        self.futures: list[Any] = []
        self.values: list[Any] | None = None
        self.done = trio.Event()


class _Call:
    """A task's function: one node's call, given its input values on the worker (dask replaced the references).

    Dask tokenizes every task it is given; the task's key, unique in the
    run, is this call's token, so tokenizing does not pickle the node type,
    params and context of every task.
    """

    __slots__ = ("key", "node_type", "params", "ports", "ctx")

    def __init__(self, key: str, node_type: dagmill.NodeType, params: Any, ports: tuple[str, ...] | None, ctx: _Context) -> None:
        self.key, self.node_type, self.params, self.ports, self.ctx = key, node_type, params, ports, ctx

    def __call__(self, *values: Any) -> Any:
        inputs = list(values) if self.ports is None else dict(zip(self.ports, values, strict=True))
        if self.node_type.is_async:
            return trio.run(functools.partial(self.node_type.func, self.params, inputs, self.ctx))
        return self.node_type.func(self.params, inputs, self.ctx)

    def __dask_tokenize__(self) -> str:
        return self.key


class _Ahead:
    """A task that runs ahead of its node: its future, the keys of its inputs' futures, whether it counts against the limit."""

    __slots__ = ("future", "inputs", "counted")

    def __init__(self, future: Any, inputs: tuple[Any, ...]) -> None:
        self.future, self.inputs = future, inputs
        self.counted = False


class _Pending:
    """A node joining the next submission: its new task, or ``None`` when it takes over a task that ran ahead."""

    __slots__ = ("index", "key", "task", "future", "abandoned")

    def __init__(self, index: int, key: str, task: Any, future: Any = None) -> None:
        self.index, self.key, self.task, self.future = index, key, task, future
        self.abandoned = False


class DaskExecutor(dagmill.Executor):
    """Submits nodes as tasks to a ``distributed.Client``, the nodes downstream ahead; waits without pulling results.

    Invariants, on the trio thread: a node is in ``_waited`` from the
    submission of its task until its ``submit`` returns, and in ``_ahead``
    from the submission of a task that runs ahead of it until the engine
    starts it (or its task can no longer be used); ``_unfinished`` counts
    the ``_Ahead`` entries with ``counted`` set.
    """

    name = "dask"
    description = "node bodies on a dask.distributed cluster (a LocalCluster unless --dask-scheduler is given)"
    produces_deferred = True
    accepts_deferred = True

    async def __aenter__(self) -> DaskExecutor:
        try:
            import distributed
            from dask.task_spec import Task, TaskRef
        except ImportError:
            raise dagmill.UsageError("the dask executor needs dask.distributed: pip install 'dagmill[dask]'") from None
        run = self.run
        address = run.options.settings.get("dask_scheduler")
        workers = run.options.settings.get("dask_workers")
        if workers is None:
            workers = min(4, os.cpu_count() or 1)
        elif type(workers) is not int or workers < 1:  # a LocalCluster of -1 workers waits for them forever
            raise dagmill.UsageError(f"dask_workers: expected a number of worker processes >= 1, got {workers!r}")

        def local() -> tuple[Any, Any]:
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
            )
            return cluster, distributed.Client(cluster)

        if address:
            # What distributed raises for an address it cannot use: ValueError when it cannot parse it (no port, an
            # unknown scheme), TypeError when its scheme is not set up here (tls:// without a certificate, ucx://
            # without ucx), OSError (TimeoutError among them) when nobody answers there.
            try:
                _check_port(distributed, address)
                self.cluster, self.client = None, await trio.to_thread.run_sync(functools.partial(distributed.Client, address, timeout=30))
            except OSError as exc:
                raise dagmill.UsageError(f"--dask-scheduler {address}: cannot connect: {exc}") from None
            except (ValueError, TypeError) as exc:
                raise dagmill.UsageError(f"--dask-scheduler {address}: not an address to connect to ({exc}); expected tcp://HOST:PORT") from None
        else:
            try:
                self.cluster, self.client = await trio.to_thread.run_sync(local)
            except OSError as exc:
                raise dagmill.UsageError(f"the dask executor cannot start a LocalCluster on 127.0.0.1: {exc}") from None
        async with contextlib.AsyncExitStack() as stack:
            self._gatherers = await stack.enter_async_context(trio.open_nursery())
            self._stack = stack.pop_all()
        self._gathering: _Gathering | None = None
        self._task, self._ref = Task, TaskRef
        self._token = trio.lowlevel.current_trio_token()
        self.settings = dict(run.options.settings)
        self._may_run_ahead: bytearray | None = None
        """Per node, whether its task may run ahead: known at the first submission, once the run has started."""
        self._limit = run.max_concurrency or math.inf
        self._rank = [0] * len(run.graph.ids)
        for position, i in enumerate(run.graph.order):
            self._rank[i] = position
        self._frontier: list[tuple[int, int]] = []
        """A heap of (topological rank, node) of nodes that may run ahead once their inputs have futures."""
        self._serial = itertools.count()
        self._waited: dict[int, Any] = {}
        self._ahead: dict[int, _Ahead] = {}
        self._unfinished = 0
        self._batch: list[_Pending] = []
        self._mapped = trio.Event()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._gatherers.cancel_scope.cancel()  # nobody waits for a value any more
        await self._stack.aclose()
        left = [ahead.future for ahead in self._ahead.values()]
        self._ahead.clear()

        def close() -> None:
            if left:
                self.client.cancel(left)
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()

        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(close)

    async def submit(self, node_type: dagmill.NodeType, params: Any, inputs: Any, ctx: dagmill.NodeContext) -> Any:
        i = self.run.graph.index[ctx.node_id]
        ports = tuple(inputs) if isinstance(inputs, dict) else None
        values = list(inputs.values()) if ports is not None else inputs
        ahead = self._ahead.pop(i, None)
        if ahead is not None:
            self._uncount(ahead)
        if ahead is not None and ahead.future.status != "cancelled" and ahead.inputs == _keys(values):
            pending = _Pending(i, ahead.future.key, None, ahead.future)
        else:
            args = [self._ref(value.future.key) if isinstance(value, DaskValue) else value for value in values]
            context = _Context(ctx.run_id, ctx.node_id, ctx.attempt, self.settings)
            key = f"{ctx.node_id}-{ctx.run_id}-{next(self._serial)}"
            pending = _Pending(i, key, self._task(key, _Call(key, node_type, params, ports, context), *args))
        await self._join(pending)
        future = pending.future
        done = trio.Event()
        future.add_done_callback(self._soon(done.set))
        try:
            await done.wait()
        except trio.Cancelled:
            self._drop_ahead(i)
            self.client.cancel([future])
            raise
        finally:
            del self._waited[i]
        if future.status == "finished":
            return DaskValue(future, self)
        self._drop_ahead(i)
        if future.status == "error":
            raise future.exception()
        raise RuntimeError(f"dask cancelled the task of node {ctx.node_id!r}")

    async def fetch(self, future: Any) -> Any:
        """The value of a finished task; fetches asked for in the same trio tick share one ``client.gather``."""
        gathering = self._gathering
        if gathering is None:
            gathering = self._gathering = _Gathering()
            self._gatherers.start_soon(self._gather, gathering)
        position = len(gathering.futures)
        gathering.futures.append(future)
        await gathering.done.wait()
        if gathering.values is None:
            return await trio.to_thread.run_sync(future.result, abandon_on_cancel=True)
        return gathering.values[position]

    async def _gather(self, gathering: _Gathering) -> None:
        await trio.lowlevel.checkpoint()  # let the fetches of this tick join
        self._gathering = None
        try:
            gathering.values = await trio.to_thread.run_sync(self.client.gather, gathering.futures, abandon_on_cancel=True)
        except Exception:
            pass  # each fetch then asks for its own value, and raises its own error
        gathering.done.set()

    async def _join(self, pending: _Pending) -> None:
        """Add a node to the next submission; on return its future is set and the node is in ``_waited``.

        Nodes that join in the same trio tick go to the scheduler in one
        ``client.get``, together with the tasks that run ahead of them.
        """
        self._batch.append(pending)
        if len(self._batch) == 1:
            await trio.lowlevel.cancel_shielded_checkpoint()  # let the nodes that became ready with this one join in
            batch, self._batch = self._batch, []
            self._flush(batch)
            self._mapped.set()
            self._mapped = trio.Event()
        else:
            try:
                await self._mapped.wait()
            except trio.Cancelled:
                pending.abandoned = True
                raise

    def _flush(self, batch: list[_Pending]) -> None:
        """Submit the batch's new tasks and, in topological order, the tasks that may run ahead now."""
        graph = self.run.graph
        batch = [entry for entry in batch if not entry.abandoned or entry.task is None]  # a cancelled node's new task is not sent
        tasks = {entry.key: entry.task for entry in batch if entry.task is not None}
        keys = {entry.index: entry.key for entry in batch if not entry.abandoned}
        frontier, rank = self._frontier, self._rank
        for i in keys:
            for s in graph.successors[i]:
                heapq.heappush(frontier, (rank[s], s))
        planned: dict[int, tuple[str, tuple[str | None, ...]]] = {}
        room = self._limit - self._unfinished
        if self._may_run_ahead is None:
            self._may_run_ahead = _may_run_ahead(self.run, self.name)
        may_run_ahead = self._may_run_ahead
        while frontier and room > 0:
            s = heapq.heappop(frontier)[1]
            if s in keys or s in self._waited or not may_run_ahead[s] or self.run.result(s) is not None:
                continue
            inputs = tuple(self._key_of(p, keys) for p in graph.predecessors[s])
            if None in inputs:
                continue  # back on the frontier when its last input gets a future
            old = self._ahead.get(s)
            if old is not None and old.inputs == inputs:
                continue
            node_id, node = graph.ids[s], self.run.workflow.nodes[s]
            key = keys[s] = f"{node_id}-{self.run.run_id}-{next(self._serial)}"
            context = _Context(self.run.run_id, node_id, 1, self.settings)
            call = _Call(key, self.run.registry.node_types[node.type], node.params, graph.ports[s], context)
            tasks[key] = self._task(key, call, *map(self._ref, inputs))
            planned[s] = key, inputs
            room -= 1
            for t in graph.successors[s]:
                heapq.heappush(frontier, (rank[t], t))
        futures = dict(zip(tasks, self.client.get(tasks, list(tasks), sync=False), strict=True)) if tasks else {}
        abandoned = []  # tasks that ran ahead of nodes cancelled while this batch formed
        for entry in batch:
            if entry.task is not None:
                entry.future = futures[entry.key]
            if entry.abandoned:
                abandoned.append(entry.future)
            else:
                self._waited[entry.index] = entry.future
        for s, (key, inputs) in planned.items():
            old = self._ahead.get(s)
            if old is not None:
                self._uncount(old)
            ahead = self._ahead[s] = _Ahead(futures[key], inputs)
            if self._limit < math.inf:
                ahead.counted = True
                self._unfinished += 1
                ahead.future.add_done_callback(self._soon(functools.partial(self._uncount, ahead)))
        if abandoned:
            self.client.cancel(abandoned)

    def _key_of(self, p: int, keys: dict[int, str]) -> str | None:
        """The key of the future that holds (or will hold) node ``p``'s output, if there is one."""
        key = keys.get(p)
        if key is not None:
            return key
        future = self._waited.get(p)
        if future is not None:
            return future.key
        ahead = self._ahead.get(p)
        if ahead is not None:
            return ahead.future.key
        output = self.run.output(p)
        return output.future.key if isinstance(output, DaskValue) else None

    def _uncount(self, ahead: _Ahead) -> None:
        """A task that ran ahead ended, or its node started: it no longer counts against the limit."""
        if ahead.counted:
            ahead.counted = False
            self._unfinished -= 1

    def _drop_ahead(self, i: int) -> None:
        """Forget the tasks that ran ahead of node ``i``'s descendants: they are built on its failed or cancelled task."""
        stack = [i]
        while stack:
            for s in self.run.graph.successors[stack.pop()]:
                ahead = self._ahead.pop(s, None)
                if ahead is not None:
                    self._uncount(ahead)
                    stack.append(s)

    def _soon(self, function: Callable[[], Any]) -> Callable[[Any], None]:
        """A future's done callback (called on another thread) that calls ``function`` on the trio thread."""

        def callback(_: Any) -> None:
            try:
                self._token.run_sync_soon(function)
            except trio.RunFinishedError:
                pass  # a task that ran ahead ended after the run

        return callback


class _Context:
    """``ctx`` on a dask worker: ids, attempt and settings (no variables, shared objects or progress)."""

    __slots__ = ("run_id", "node_id", "attempt", "settings")

    def __init__(self, run_id: str, node_id: str, attempt: int, settings: dict[str, Any]) -> None:
        self.run_id, self.node_id, self.attempt, self.settings = run_id, node_id, attempt, settings

    def progress(self, fraction: float | None = None, message: str = "") -> None:
        """Progress from a dask worker is not reported (accepted and dropped)."""


def _check_port(distributed: Any, address: str) -> None:
    """Refuse at once a port no scheduler can listen on (connecting would wait for the timeout first)."""
    try:
        _, port = distributed.comm.get_address_host_port(address)
    except ValueError:
        return  # unparsable, or a scheme without host and port: connecting says what is wrong
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is not a number from 1 to 65535")


def _keys(values: Sequence[Any]) -> tuple[Any, ...]:
    """The keys of the futures among a node's inputs, ``None`` for inputs that are plain values."""
    return tuple(value.future.key if isinstance(value, DaskValue) else None for value in values)


def _may_run_ahead(run: dagmill.Run, name: str) -> bytearray:
    """Per node, whether its task may be submitted before the engine starts it (see the module's docstring)."""
    if run.registry.hook.dagmill_node_resources.get_hookimpls():
        return bytearray(len(run.graph.ids))
    nodes = run.workflow.nodes
    return bytearray(
        not nodes[i].resources and run.executor_of(i) == name and not run.may_look_up(i) for i in range(len(nodes))
    )


@dagmill.hookimpl
def dagmill_executors() -> Sequence[type[dagmill.Executor]]:
    return [DaskExecutor]


def _workers(text: str) -> int:
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if workers < 1:
        raise argparse.ArgumentTypeError(f"expected a number of worker processes >= 1, got {text!r}")
    return workers


@dagmill.hookimpl
def dagmill_addoption(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dask-scheduler", metavar="ADDRESS", help="dask executor: use this cluster (tcp://HOST:PORT) instead of a LocalCluster")
    parser.add_argument("--dask-workers", type=_workers, metavar="N", help="dask executor: worker processes of the LocalCluster (default: min(4, cores))")
