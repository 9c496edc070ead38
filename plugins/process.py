"""The ``process`` executor: CPU-bound nodes in worker processes (trio-parallel).

trio-parallel is the process pool made for trio: ``run_sync`` in a worker
process is an ordinary cancellable trio call (``kill_on_cancel`` ends the
worker), a worker that dies raises ``BrokenWorkerError`` and is replaced for
the next call, and the pool of one run lives in one ``async with`` block, so
no worker outlives the run.

Starting a worker costs a few tenths of a second (a new interpreter that
imports dagmill and the node types' modules), so the pool is warmed when the
run starts: as many workers as the run can use (one per core, at most one
per process node) start in the background and import the modules of the
process nodes' types, while the rest of the run goes on.

Each node runs in its own work directory (``ctx.workdir``, also the
worker's current directory): removed when the node succeeds unless the run
keeps them (``--keep-workdirs``), kept when it fails (listed in the result's
``extras["kept_workdirs"]``). In a worker, ``ctx`` is a
:class:`WorkerContext`: ids, attempt, directories and settings travel;
run variables, shared objects and progress reports do not. Params, inputs
and outputs must pickle; node types are sent by reference, so the worker
imports them.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import os
import pickle
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs
import trio
import trio_parallel

import dagmill


@attrs.frozen
class WorkerContext:
    """What a node function gets as ``ctx`` in a worker process."""

    run_id: str
    node_id: str
    attempt: int
    workdir: Path
    run_workdir: Path
    settings: Mapping[str, Any]

    @property
    def variables(self) -> Any:
        raise RuntimeError("run variables are not available in a worker process (process executor)")

    async def shared(self, key: str, factory: Any) -> Any:
        raise RuntimeError("shared objects are not available in a worker process (process executor)")

    def progress(self, fraction: float | None = None, message: str = "") -> None:
        """Progress from a worker process is not reported (accepted and dropped)."""


def _in_worker(node_type: dagmill.NodeType, params: Any, inputs: Any, ctx: WorkerContext) -> tuple[bool, Any]:
    """Run the node in the worker: ``(True, output)`` or ``(False, exception)``, always picklable."""
    home = os.getcwd()
    os.chdir(ctx.workdir)
    try:
        if node_type.is_async:
            output = trio.run(functools.partial(node_type.func, params, inputs, ctx))
        else:
            output = node_type.func(params, inputs, ctx)
        pickle.dumps(output)
        return True, output
    except Exception as exc:
        try:
            pickle.dumps(exc)
        except Exception:
            return False, RuntimeError(f"{type(exc).__name__}: {exc}")
        return False, exc
    finally:
        os.chdir(home)


def _warm_up(modules: tuple[str, ...]) -> None:
    """In a new worker: import the modules that define the run's process node types."""
    for module in modules:
        with contextlib.suppress(Exception):  # a module that fails to import fails its nodes, with their names
            importlib.import_module(module)


class WorkerDied(RuntimeError):
    """The worker process running a node died (a crash, os._exit, the OOM killer)."""


class ProcessExecutor(dagmill.Executor):
    """Runs node functions in a pool of worker processes, at most one per core at a time."""

    name = "process"
    description = "CPU-bound nodes in worker processes (trio-parallel), one work directory per node"

    def __init__(self, run: dagmill.Run) -> None:
        super().__init__(run)
        self.limiter = trio.CapacityLimiter(os.cpu_count() or 1)
        self.keep_workdirs = bool(run.options.settings.get("keep_workdirs"))
        self.settings = {k: v for k, v in run.options.settings.items() if _picklable(v)}

    async def __aenter__(self) -> ProcessExecutor:
        run = self.run
        types = [run.registry.node_types[node.type] for i, node in enumerate(run.workflow.nodes) if run.executor_of(i) == self.name]
        modules = tuple(dict.fromkeys(node_type.func.__module__ for node_type in types))
        self._warm = trio.Event()
        async with contextlib.AsyncExitStack() as stack:
            self.workers = await stack.enter_async_context(trio_parallel.open_worker_context())
            self._warming = await stack.enter_async_context(trio.open_nursery())
            self._warming.start_soon(self._warm_pool, min(len(types), int(self.limiter.total_tokens)), modules)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._warming.cancel_scope.cancel()  # a worker still starting after the run is of no use
        await self._stack.aclose()

    async def _warm_pool(self, count: int, modules: tuple[str, ...]) -> None:
        """Start ``count`` workers at once into the pool, then let nodes in (so they take these, not start their own)."""
        async with trio.open_nursery() as nursery:
            for _ in range(count):
                nursery.start_soon(self._start_worker, modules)
        self._warm.set()

    async def _start_worker(self, modules: tuple[str, ...]) -> None:
        with contextlib.suppress(Exception):  # a pool that cannot start workers fails the nodes, with their names
            await self.workers.run_sync(_warm_up, modules, kill_on_cancel=True, limiter=self.limiter)

    async def submit(self, node_type: dagmill.NodeType, params: Any, inputs: Any, ctx: dagmill.NodeContext) -> Any:
        await self._warm.wait()
        workdir = ctx.workdir
        context = WorkerContext(ctx.run_id, ctx.node_id, ctx.attempt, workdir, ctx.run_workdir, self.settings)
        try:
            ok, value = await self.workers.run_sync(
                _in_worker, node_type, params, inputs, context, kill_on_cancel=True, limiter=self.limiter
            )
        except trio_parallel.BrokenWorkerError as exc:
            self._keep(ctx.node_id, workdir)
            raise WorkerDied(f"the worker process running node {ctx.node_id!r} died ({_cause(exc)})") from None
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            self._keep(ctx.node_id, workdir)
            raise TypeError(f"node {ctx.node_id!r} cannot be sent to a worker process: {exc}") from None
        if not ok:
            self._keep(ctx.node_id, workdir)
            raise value
        if not self.keep_workdirs:
            await trio.to_thread.run_sync(functools.partial(shutil.rmtree, workdir, ignore_errors=True))
        return value

    def _keep(self, node_id: str, workdir: Path) -> None:
        self.run.extras.setdefault("kept_workdirs", {})[node_id] = str(workdir)


def _cause(exc: BaseException) -> str:
    detail = " ".join(str(arg) for arg in exc.args if arg)
    return detail or "no exit status"


def _picklable(value: Any) -> bool:
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


@dagmill.hookimpl
def dagmill_executors() -> Sequence[type[dagmill.Executor]]:
    return [ProcessExecutor]


@dagmill.hookimpl
def dagmill_addoption(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep-workdirs", action="store_true", help="keep the work directories of nodes that succeeded")
