"""The run loop: one run's state and the life of one node.

A scheduler calls :meth:`Run.execute` for each node; everything a node goes
through — skip on a failed upstream, lookup, resources, executor, timeout,
retries, hooks, result, release of inputs, readiness of its successors — is
here, in one place, on the trio thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import signal
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio

from dagmill.context import NodeContext, Variables
from dagmill.errors import NodeStalledError, NodeTimeoutError, SchedulerError, UsageError
from dagmill.executor import Deferred, Executor
from dagmill.graph import Graph
from dagmill.load import converter
from dagmill.model import FailPolicy, Node, NodeType, Status, Workflow
from dagmill.registry import Registry
from dagmill.resources import PoolStatistics, Request, ResourcePool, acquire_all, plan_request, release_all
from dagmill.result import LevelResult, NodeResult, RunResult

T = TypeVar("T")
_log = logging.getLogger("dagmill.run")
_PENDING = Status.PENDING
_RUNNING = Status.RUNNING
_SUCCEEDED = Status.SUCCEEDED
_FAILED = Status.FAILED
_SKIPPED = Status.SKIPPED
_CANCELLED = Status.CANCELLED
_CACHED = Status.CACHED
_BROKEN = (Status.FAILED, Status.SKIPPED)

_CHECKPOINT_EVERY = 64
"""Nodes executed between two forced checkpoints: sync nodes never yield, but
signals, timeouts and other tasks must still get the trio thread."""

_MEMORY_PER_SLOT = 256 * 2**20


def auto_concurrency() -> int:
    """``max_concurrency="auto"``: ``min(32, cores + 4)``, at most one slot per 256 MiB of available memory."""
    cores = os.cpu_count() or 1
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        available = _MEMORY_PER_SLOT * 32
    return max(1, min(32, cores + 4, available // _MEMORY_PER_SLOT))


def _concurrency(value: int | str) -> int:
    if value == "auto":
        return auto_concurrency()
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise UsageError(f"max_concurrency: expected a number >= 0 or 'auto', got {value!r}")


@attrs.frozen
class RunOptions:
    """How to run a workflow; every field has the same meaning as its ``dagmill run`` flag.

    ``cancel_stalled`` cancels (and so fails) a node that sends no heartbeat
    for longer than its ``stall_after``. ``executor`` is the executor of nodes that name none (over the document's
    ``defaults.executor`` and the node type's default). ``settings`` carries
    plugin options (``{"metrics_port": 9100}``) to plugins, which read them
    from ``run.options.settings``.
    """

    scheduler: str = "level"
    max_concurrency: int | str = "auto"
    executor: str | None = None
    fail_policy: FailPolicy = attrs.field(default=FailPolicy.FAIL_FAST, converter=FailPolicy)
    timeout: float | None = None
    keep_outputs: bool = False
    cancel_stalled: bool = False
    run_id: str | None = None
    workdir: Path | None = None
    settings: Mapping[str, Any] = attrs.field(factory=dict, hash=False)


@attrs.frozen
class RunStatistics:
    """A snapshot of a live run."""

    running: int
    peak_running: int
    finished: int
    failed: int
    total: int
    pools: tuple[PoolStatistics, ...]


class Run:
    """One execution of a workflow: what schedulers drive and hooks observe.

    Schedulers call :meth:`execute`; plugins read ``run_id``, ``workflow``,
    ``graph``, ``options``, ``max_concurrency``, ``statistics()`` and may
    :meth:`cancel`. Everything here lives on the trio thread.
    """

    def __init__(self, workflow: Workflow, options: RunOptions, registry: Registry) -> None:
        self.workflow = workflow
        self.options = options
        self.registry = registry
        self.graph: Graph = workflow.graph
        self.run_id: str = options.run_id or uuid.uuid4().hex[:12]
        self.max_concurrency: int = _concurrency(options.max_concurrency)
        self.limiter = trio.CapacityLimiter(self.max_concurrency or math.inf)
        """The run-wide concurrency limit, for schedulers that park tasks on it."""
        self.variables = Variables()
        self.workdir: Path = (options.workdir or Path(".dagmill", "runs", self.run_id)).absolute()
        self.pools = {name: ResourcePool(name, capacity) for name, capacity in workflow.resources.items()}
        self.started_at = 0.0
        self.extras: dict[str, Any] = {}
        """Facts for the result's ``extras``: plugins and executors may add to it while the run goes."""
        if options.scheduler not in registry.schedulers:
            raise UsageError(f"unknown scheduler {options.scheduler!r} (installed: {', '.join(sorted(registry.schedulers))})")
        self._scheduler = registry.schedulers[options.scheduler]()
        self._types: list[NodeType] = [registry.node_types[node.type] for node in workflow.nodes]
        self._executor_names = self._choose_executors()
        self._executors: list[Executor] = []
        self._deferred = False

        n = len(self.graph)
        self._nodes = workflow.nodes
        self._ids = self.graph.ids
        self._level_of = self.graph.level
        self._predecessors = self.graph.predecessors
        self._successors = self.graph.successors
        self._ports = self.graph.ports
        self._status: list[Status] = [_PENDING] * n
        self._results: list[NodeResult | None] = [None] * n
        self._pending = [len(p) for p in self.graph.predecessors]
        self._consumers = [len(s) for s in self.graph.successors]
        self._outputs: list[Any] = [None] * n
        self._blocked = bytearray(n)
        self._ready_at: list[float | None] = [None] * n
        self._started_at: list[float | None] = [None] * n
        self._running = 0
        self._peak_running = 0
        self._finished = 0
        self._failed_count = 0
        self._tick = _CHECKPOINT_EVERY
        self._stopping = False
        self._failed = False
        self._cancel_reason: str | None = None
        self._cancel_scope = trio.CancelScope()

        depth = len(self.graph.levels)
        self._level_open: list[float | None] = [None] * depth
        self._level_close: list[float | None] = [None] * depth
        self._level_left = [len(level) for level in self.graph.levels]
        self._level_running = [0] * depth
        self._level_peak = [0] * depth

        hook = registry.hook
        self._hook = hook
        self._on_level_start = _implemented(hook.dagmill_level_start)
        self._on_level_end = _implemented(hook.dagmill_level_end)
        self._on_node_ready = _implemented(hook.dagmill_node_ready)
        self._on_node_start = _implemented(hook.dagmill_node_start)
        self._on_node_progress = _implemented(hook.dagmill_node_progress)
        self._on_node_end = _implemented(hook.dagmill_node_end)
        self._lookup = _implemented(hook.dagmill_node_lookup)
        self._lookups: bytearray | None = None
        """Per node, whether a lookup plugin may answer for it (``None``: every node)."""
        self._fingerprints: list[str | None] = [None] * n
        self._fingerprint_prefixes: dict[str, str] = {}
        self._remaining: tuple[float, ...] | None = None
        self._shared: dict[str, Any] = {}
        self._shared_locks: dict[str, trio.Lock] = {}
        self._stack: contextlib.AsyncExitStack | None = None
        self._requests: list[Request] = self._plan_resources()
        defaults = workflow.defaults
        self._retries = [defaults.retries if node.retries is None else node.retries for node in workflow.nodes]
        self._timeouts = [defaults.timeout if node.timeout is None else node.timeout for node in workflow.nodes]
        self._keeps = bytearray(options.keep_outputs or not successors for successors in self.graph.successors)
        self._stall_after = [_stall_threshold(node, defaults) for node in workflow.nodes]
        self._watching = any(t is not None for t in self._stall_after)
        self._beats: dict[int, float] = {}
        self._stalled: set[int] = set()
        self._stall_scopes: dict[int, trio.CancelScope] = {}
        self._on_node_stalled = _implemented(hook.dagmill_node_stalled)

    # -- for schedulers and plugins --------------------------------------------

    def statistics(self) -> RunStatistics:
        """The run's state now."""
        return RunStatistics(
            running=self._running,
            peak_running=self._peak_running,
            finished=self._finished,
            failed=self._failed_count,
            total=len(self.graph),
            pools=tuple(pool.statistics() for pool in self.pools.values()),
        )

    def elapsed(self) -> float:
        """Seconds since the run started, on the run's clock (callable from any thread)."""
        return self._clock() - self._t0

    def result(self, index: int) -> NodeResult | None:
        """The final record of node ``index``, or ``None`` while it has not ended."""
        return self._results[index]

    def results(self) -> Sequence[NodeResult | None]:
        """Every node's final record by index (``None`` until it ends): a live view, read it, never write it."""
        return self._results

    def running(self) -> list[int]:
        """The nodes running now: a scan over the graph, for scrapes and displays, not for every node."""
        status, started = self._status, self._started_at
        return [i for i in range(len(status)) if status[i] is _RUNNING and started[i] is not None]

    def cancel(self, reason: str = "cancelled") -> None:
        """Cancel the run: running nodes are cancelled, nothing else starts; the run ends ``cancelled``."""
        if self._cancel_reason is None:
            self._cancel_reason = reason
        self._stopping = True
        self._cancel_scope.cancel()

    async def shared(self, key: str, factory: Callable[[], AbstractAsyncContextManager[T]]) -> T:
        """The run-scoped object ``key``, entering ``factory()`` on first use; exited when the run ends."""
        if key in self._shared:
            return self._shared[key]
        lock = self._shared_locks.setdefault(key, trio.Lock())
        async with lock:
            if key not in self._shared:
                assert self._stack is not None, "shared() is available while the run is running"
                self._shared[key] = await self._stack.enter_async_context(factory())
        return self._shared[key]

    @property
    def remaining(self) -> tuple[float, ...]:
        """Per node, the longest estimated path from its start to the end of the graph.

        ``graph.remaining``, unless a plugin answers ``dagmill_node_estimate``
        (durations learned from earlier runs): then recomputed for this run.
        """
        if self._remaining is None:
            self._remaining = self._estimate_remaining()
        return self._remaining

    def cacheable(self, node: Node) -> bool:
        """Whether ``node`` asked for caching: its own ``cache``, else the defaults', else its type's."""
        if node.cache is not None:
            return node.cache
        return self.workflow.defaults.cache or self.registry.node_types[node.type].cache

    def fingerprint(self, index: int) -> str:
        """A digest of node ``index``'s type, type version, params and, recursively, its inputs' fingerprints.

        Computed on first request (with those of its ancestors not yet known), then remembered.
        """
        known = self._fingerprints[index]
        return self._compute_fingerprints(index) if known is None else known

    def may_look_up(self, index: int) -> bool:
        """Whether a ``dagmill_node_lookup`` plugin may answer for node ``index``, so that it may end ``cached``
        without running: executors must not start its work early. Settled once ``dagmill_run_start`` has run."""
        return self._lookup is not None and (self._lookups is None or bool(self._lookups[index]))

    def executor_of(self, index: int) -> str:
        """The executor node ``index`` runs on: its own, else the run's, else the document's default, else its type's."""
        return self._executor_names[index]

    def output(self, index: int) -> Any:
        """Node ``index``'s output while the run holds it: once it ended, until its last consumer has it (for
        sinks, or with ``keep_outputs``, until the run ends); ``None`` otherwise."""
        if self._keeps[index]:
            result = self._results[index]
            return None if result is None else result.output
        return self._outputs[index]

    def _compute_fingerprints(self, index: int) -> str:
        prints, predecessors, prefixes = self._fingerprints, self._predecessors, self._fingerprint_prefixes
        stack = [index]
        while stack:
            i = stack.pop()
            if prints[i] is not None:
                continue
            upstream = [prints[p] for p in predecessors[i]]
            if None in upstream:
                stack.append(i)
                stack.extend(p for p, known in zip(predecessors[i], upstream) if known is None)
                continue
            node_type = self._types[i]
            prefix = prefixes.get(node_type.name)
            if prefix is None:
                prefix = prefixes[node_type.name] = _canonical([node_type.name, node_type.version])
            params, ports = self._nodes[i].params, self._ports[i]
            text = (
                f"{prefix}\0{'null' if params is None else _canonical(converter.unstructure(params))}"
                f"\0{'null' if ports is None else _canonical(ports)}\0{','.join(upstream)}"  # type: ignore[arg-type]  # all known
            )
            prints[i] = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        return prints[index]  # type: ignore[return-value]

    async def execute(self, i: int) -> list[int]:
        """Run node ``i`` to a final status; return the nodes that became ready.

        Raises :class:`SchedulerError` if ``i`` already ran or a predecessor
        has not ended. Cancellation propagates (the node ends ``cancelled``).
        """
        self._tick -= 1
        if self._tick <= 0 or self._stopping:
            self._tick = _CHECKPOINT_EVERY
            await trio.lowlevel.checkpoint()
        if self._status[i] is not _PENDING or self._pending[i]:
            raise SchedulerError(self._misuse(i))
        self._status[i] = _RUNNING
        if self._blocked[i]:
            self._release_inputs(i)
            return self._finish(i, _SKIPPED, None, None, 0)
        node = self._nodes[i]
        if self._lookup is not None and (self._lookups is None or self._lookups[i]):
            stored = self._lookup(self, node, self.fingerprint(i))
            if stored is not None:
                self._release_inputs(i)
                return self._finish(i, _CACHED, stored.output, None, 0)
        request = self._requests[i]
        if request:
            try:
                await acquire_all(request)
            except BaseException:
                self._finish(i, _CANCELLED, None, None, 0)
                raise
        now = self._clock() - self._t0
        self._started_at[i] = now
        self._running += 1
        if self._running > self._peak_running:
            self._peak_running = self._running
        level = self._level_of[i]
        if self._level_open[level] is None:
            self._open_level(level, now)
        running = self._level_running[level] + 1
        self._level_running[level] = running
        if running > self._level_peak[level]:
            self._level_peak[level] = running
        if self._on_node_start is not None:
            self._on_node_start(self, node)
        if self._watching and self._stall_after[i] is not None:
            self._beats[i] = now
        predecessors = self._predecessors[i]
        if predecessors:
            outputs = self._outputs
            inputs: Any = [outputs[p] for p in predecessors]
            self._release_inputs(i)
            ports = self._ports[i]
            if ports is not None:
                inputs = dict(zip(ports, inputs))
        else:
            inputs = []
        executor = self._executors[i]
        node_type = self._types[i]
        params = node.params
        retries = self._retries[i]
        timeout = self._timeouts[i]
        attempt = 0
        error: BaseException | None = None
        output = None
        try:
            while True:
                attempt += 1
                try:
                    if self._deferred and not executor.accepts_deferred:
                        inputs = await _fetch_all(inputs)
                    if timeout is None and not self._watching:
                        output = await executor.submit(node_type, params, inputs, NodeContext(self, i, attempt))
                    else:
                        output = await self._guarded(i, executor, node_type, params, inputs, attempt, timeout)
                    if self._deferred and isinstance(output, Deferred) and self._keeps[i]:
                        output = await output.fetch()
                    error = None
                    break
                except Exception as exc:
                    error = exc
                if attempt > retries:
                    break
                await trio.sleep(self._backoff(node, attempt))
        except BaseException:
            if request:
                release_all(request)
            self._finish(i, _CANCELLED, None, None, attempt)
            raise
        if request:
            release_all(request)
        if error is None:
            return self._finish(i, _SUCCEEDED, output, None, attempt)
        return self._finish(i, _FAILED, None, error, attempt)

    # -- one node's life ---------------------------------------------------------

    async def _guarded(
        self, i: int, executor: Executor, node_type: NodeType, params: Any, inputs: Any, attempt: int, timeout: float | None
    ) -> Any:
        """One attempt under its timeout and, if the run cancels stalled nodes, a scope the watchdog can cancel."""
        with trio.move_on_after(math.inf if timeout is None else timeout) as deadline, trio.CancelScope() as stall:
            if self.options.cancel_stalled and self._stall_after[i] is not None:
                self._stall_scopes[i] = stall
            try:
                return await executor.submit(node_type, params, inputs, NodeContext(self, i, attempt))
            finally:
                self._stall_scopes.pop(i, None)
        if stall.cancelled_caught:
            raise NodeStalledError(f"stalled: no heartbeat for {self._stall_after[i]:g}s")
        assert deadline.cancelled_caught
        raise NodeTimeoutError(f"timed out after {timeout:g}s")

    def _misuse(self, i: int) -> str:
        node_id = self.graph.ids[i]
        if self._status[i] is not _PENDING:
            return f"scheduler {self.options.scheduler!r} started node {node_id!r} twice"
        waiting = [self.graph.ids[p] for p in self.graph.predecessors[i] if self._status[p] in (_PENDING, _RUNNING)]
        return f"scheduler {self.options.scheduler!r} started node {node_id!r} before {', '.join(map(repr, waiting))} ended"

    def _open_level(self, level: int, now: float) -> None:
        if self._level_open[level] is None:
            self._level_open[level] = now
            if self._on_level_start is not None:
                self._on_level_start(self, level, len(self.graph.levels[level]))

    def _release_inputs(self, i: int) -> None:
        consumers = self._consumers
        outputs = self._outputs
        for p in self._predecessors[i]:
            consumers[p] -= 1
            if not consumers[p]:
                outputs[p] = None

    def _finish(self, i: int, status: Status, output: Any, error: BaseException | None, attempts: int) -> list[int]:
        now = self._clock() - self._t0
        level = self._level_of[i]
        started = self._started_at[i]
        if started is not None:
            self._running -= 1
            self._level_running[level] -= 1
            if self._watching:
                self._beats.pop(i, None)
        else:
            self._open_level(level, now)
        self._status[i] = status
        self._finished += 1
        successors = self._successors[i]
        if successors and (status is _SUCCEEDED or status is _CACHED):
            self._outputs[i] = output
        result = NodeResult(
            self._ids[i],
            status,
            level,
            output if self._keeps[i] else None,
            None if error is None else f"{type(error).__name__}: {error}",
            None if error is None else "".join(traceback.format_exception(error)),
            attempts,
            self._ready_at[i],
            started if started is not None else (now if status is _CACHED else None),
            now,
            i in self._stalled,
        )
        self._results[i] = result
        if self._on_node_end is not None:
            self._on_node_end(self, self._nodes[i], result)
        left = self._level_left[level] - 1
        self._level_left[level] = left
        if not left:
            self._close_level(level, now)
        ready: list[int] = []
        if status is _FAILED or status is _SKIPPED:
            if status is _FAILED:
                self._failed = True
                self._failed_count += 1
            if self.options.fail_policy is FailPolicy.FAIL_FAST:
                self._stopping = True
                self._cancel_scope.cancel()
                return ready
            blocked = self._blocked
            for s in successors:
                blocked[s] = 1
        elif status is _CANCELLED:
            return ready
        pending = self._pending
        for s in successors:
            pending[s] -= 1
            if not pending[s]:
                ready.append(s)
                self._ready_at[s] = now
                if self._on_node_ready is not None:
                    self._on_node_ready(self, self._nodes[s])
        return ready

    def _close_level(self, level: int, now: float) -> None:
        self._level_close[level] = now
        if self._on_level_end is not None:
            self._on_level_end(self, self._level_result(level))

    def _level_result(self, level: int) -> LevelResult:
        return LevelResult(
            level,
            len(self.graph.levels[level]),
            self._level_open[level],
            self._level_close[level],
            self._level_peak[level],
        )

    def _backoff(self, node: Node, attempt: int) -> float:
        defaults = self.workflow.defaults
        base = defaults.retry_backoff if node.retry_backoff is None else node.retry_backoff
        delay = min(defaults.retry_backoff_max, base * 2 ** (attempt - 1))
        return delay * random.uniform(0.5, 1.0)

    def _report_progress(self, i: int, fraction: float | None, message: str) -> None:
        if i in self._beats:
            self._beats[i] = self._clock() - self._t0
        if self._on_node_progress is not None:
            self._on_node_progress(self, self._nodes[i], fraction, message)

    # -- the run as a whole -------------------------------------------------------

    def _choose_executors(self) -> list[str]:
        default = self.options.executor or self.workflow.defaults.executor
        names = [node.executor or default or node_type.executor for node, node_type in zip(self.workflow.nodes, self._types, strict=True)]
        unknown = set(names) - set(self.registry.executors)
        if unknown:
            node_id = next(node.id for node, name in zip(self.workflow.nodes, names, strict=True) if name in unknown)
            name = names[self.graph.index[node_id]]
            installed = ", ".join(sorted(self.registry.executors))
            raise UsageError(f"node {node_id!r}: unknown executor {name!r} (installed: {installed})")
        return names

    def _scope_lookups(self) -> None:
        """Narrow lookups to the nodes the lookup plugins name, if every one of them names its nodes."""
        if self._lookup is None:
            return
        hook = self._hook
        scoped = {impl.plugin for impl in hook.dagmill_lookup_scope.get_hookimpls()}
        if any(impl.plugin not in scoped for impl in hook.dagmill_node_lookup.get_hookimpls()):
            return
        wanted = bytearray(len(self.graph))
        for answer in hook.dagmill_lookup_scope(run=self):
            if answer is None:
                return
            for i in answer:
                wanted[i] = 1
        if any(wanted):
            self._lookups = wanted
        else:
            self._lookup = None

    def _estimate_remaining(self) -> tuple[float, ...]:
        ask = _implemented(self._hook.dagmill_node_estimate)
        if ask is None:
            return self.graph.remaining
        defaults, nodes = self.graph.estimates, self._nodes
        learned = [ask(self, node) for node in nodes]
        return self.graph.longest_remaining([own if own is not None else defaults[i] for i, own in enumerate(learned)])

    def _plan_resources(self) -> list[Request]:
        ask = _implemented(self._hook.dagmill_node_resources)
        if ask is None and not self.pools:
            return [()] * len(self.workflow.nodes)  # the loader refused requests for undeclared pools
        requests: list[Request] = []
        for node in self.workflow.nodes:
            wanted = node.resources
            if ask is not None:
                answer = ask(self, node)
                wanted = node.resources if answer is None else answer
            for name, amount in wanted.items():
                pool = self.pools.get(name)
                if pool is None or not 1 <= amount <= pool.capacity:
                    raise UsageError(f"node {node.id!r}: cannot take {amount} of resource pool {name!r}")
            requests.append(plan_request(self.pools, wanted) if wanted else ())
        return requests

    async def _main(self, handle_signals: bool) -> RunResult:
        try:
            return await self._supervise(handle_signals)
        except BaseExceptionGroup as group:
            raise _sole_error(group) from None

    async def _supervise(self, handle_signals: bool) -> RunResult:
        self._clock = trio.lowlevel.current_clock().current_time
        self._t0 = self._clock()
        self.started_at = time.time()
        instances: dict[str, Executor] = {}
        async with contextlib.AsyncExitStack() as stack:
            self._stack = stack
            for name in dict.fromkeys(self._executor_names):
                instances[name] = await stack.enter_async_context(self.registry.executors[name](self))
            self._executors = [instances[name] for name in self._executor_names]
            self._deferred = any(executor.produces_deferred for executor in instances.values())
            self._hook.dagmill_run_start(run=self)
            self._scope_lookups()
            async with trio.open_nursery() as nursery:
                if handle_signals:
                    nursery.start_soon(self._watch_signals)
                if self._watching:
                    nursery.start_soon(self._watch_stalls)
                with self._cancel_scope, trio.move_on_after(self.options.timeout or math.inf) as deadline:
                    for s in self.graph.sources:
                        self._ready_at[s] = 0.0
                        if self._on_node_ready is not None:
                            self._on_node_ready(self, self._nodes[s])
                    await self._scheduler.run(self)
                nursery.cancel_scope.cancel()
        error = None
        if deadline.cancelled_caught:
            error = f"run timed out after {self.options.timeout:g}s"
        result = self._result(error)
        self._hook.dagmill_run_end(run=self, result=result)
        return result

    async def _watch_stalls(self) -> None:
        """Every quarter of the shortest ``stall_after``, report (and maybe cancel) nodes silent for too long."""
        period = max(0.01, min(t for t in self._stall_after if t is not None) / 4)
        while True:
            await trio.sleep(period)
            now = self._clock() - self._t0
            for i, beat in list(self._beats.items()):
                silent = now - beat
                threshold = self._stall_after[i]
                if threshold is None or silent <= threshold or i in self._stalled:
                    continue
                self._stalled.add(i)
                node = self._nodes[i]
                _log.warning("run %s: node %r stalled: no heartbeat for %.3gs", self.run_id, node.id, silent)
                if self._on_node_stalled is not None:
                    self._on_node_stalled(self, node, silent)
                scope = self._stall_scopes.get(i)
                if scope is not None:
                    scope.cancel()

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                if self._cancel_reason is not None:
                    os._exit(130)
                self.cancel(f"interrupted by {signal.Signals(signum).name}")

    def _result(self, error: str | None) -> RunResult:
        now = self._clock() - self._t0
        graph = self.graph
        unfinished = False
        for i in graph.order:
            if self._results[i] is not None:
                continue
            broken = any(self._status[p] in _BROKEN for p in graph.predecessors[i]) or self._blocked[i]
            if not broken and not self._stopping and error is None:
                unfinished = True
            status = _SKIPPED if broken else _CANCELLED
            self._status[i] = status
            self._results[i] = NodeResult(graph.ids[i], status, graph.level[i], ready_at=self._ready_at[i], ended_at=now)
            if self._on_node_end is not None:
                self._on_node_end(self, self._nodes[i], self._results[i])
        if unfinished:
            raise SchedulerError(f"scheduler {self.options.scheduler!r} returned before every node ran")
        for level, left in enumerate(self._level_left):
            if left and self._level_open[level] is not None:
                self._close_level(level, now)
        if self._cancel_reason is not None:
            status, error = _CANCELLED, self._cancel_reason
        elif self._failed or error is not None:
            status = _FAILED
        else:
            status = _SUCCEEDED
        results: list[NodeResult] = self._results  # type: ignore[assignment]  # every slot is filled now
        return RunResult(
            run_id=self.run_id,
            workflow=self.workflow.name,
            status=status,
            scheduler=self.options.scheduler,
            max_concurrency=self.max_concurrency,
            nodes={r.id: r for r in results},
            levels=[self._level_result(level) for level in range(len(graph.levels))],
            outputs={r.id: r.output for r in (results[i] for i in graph.sinks) if r.status in (_SUCCEEDED, _CACHED)},
            started_at=self.started_at,
            duration=now,
            error=error,
            extras=dict(self.extras),
        )


def _sole_error(group: BaseExceptionGroup) -> BaseException:
    """The one real error inside nested nursery groups (a scheduler or plugin bug), or the group itself."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop()
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        elif not isinstance(exc, trio.Cancelled):
            leaves.append(exc)
    return leaves[0] if len(leaves) == 1 else group


async def _fetch_all(inputs: Any) -> Any:
    """``inputs`` with every :class:`Deferred` replaced by its value."""
    if isinstance(inputs, dict):
        return {port: await v.fetch() if isinstance(v, Deferred) else v for port, v in inputs.items()}
    return [await v.fetch() if isinstance(v, Deferred) else v for v in inputs]


def _stall_threshold(node: Node, defaults: Any) -> float | None:
    """``stall_after`` of the node, else of the defaults, else three times an explicit ``estimate``."""
    if node.stall_after is not None:
        return node.stall_after
    if defaults.stall_after is not None:
        return defaults.stall_after
    return 3 * node.estimate if node.estimate else None


def _implemented(caller: Any) -> Callable[..., Any] | None:
    """A caller of the hook taking its arguments by position, in the spec's order; ``None`` if nobody implements it.

    Unimplemented hooks cost nothing, and a hook with one plain implementation
    calls it directly: pluggy's dispatch costs about a microsecond, and the
    per-node hooks run once per node. A hook with several implementations, or
    a wrapper, goes through pluggy.
    """
    impls = caller.get_hookimpls()
    if not impls:
        return None
    names: tuple[str, ...] = caller.spec.argnames
    if len(impls) == 1 and not (impls[0].hookwrapper or impls[0].wrapper):
        function, wanted = impls[0].function, tuple(impls[0].argnames)
        if wanted == names:
            return function
        positions = [names.index(name) for name in wanted]
        return lambda *args: function(*[args[p] for p in positions])
    return lambda *args: caller(**dict(zip(names, args, strict=True)))


_canonical = json.JSONEncoder(sort_keys=True, default=repr, separators=(",", ":")).encode
