"""What a node function gets besides its params and inputs."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import trio

if TYPE_CHECKING:
    from dagmill.run import Run

T = TypeVar("T")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class Variables:
    """Run-scoped variables shared by every node of a run, safe across threads.

    Use :meth:`update` for read-modify-write (a counter, an accumulator): it
    holds the lock around the whole change.
    """

    __slots__ = ("_lock", "_values")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}

    def get(self, name: str, default: Any = None) -> Any:
        """The value of ``name``, or ``default``."""
        with self._lock:
            return self._values.get(name, default)

    def set(self, name: str, value: Any) -> None:
        """Set ``name`` to ``value``."""
        with self._lock:
            self._values[name] = value

    def update(self, name: str, change: Any, default: Any = None) -> Any:
        """Set ``name`` to ``change(current or default)`` atomically and return the new value."""
        with self._lock:
            value = change(self._values.get(name, default))
            self._values[name] = value
            return value

    def snapshot(self) -> dict[str, Any]:
        """A copy of every variable."""
        with self._lock:
            return dict(self._values)


class NodeContext:
    """One attempt of one node: who it is, where it may write, whom to tell about progress."""

    __slots__ = ("_run", "_index", "attempt")

    def __init__(self, run: Run, index: int, attempt: int) -> None:
        self._run = run
        self._index = index
        self.attempt = attempt
        """1 for the first attempt, 2 for the first retry, ..."""

    @property
    def run_id(self) -> str:
        """The id of the run."""
        return self._run.run_id

    @property
    def node_id(self) -> str:
        """The id of the node."""
        return self._run.graph.ids[self._index]

    @property
    def variables(self) -> Variables:
        """The run-scoped variables."""
        return self._run.variables

    @property
    def run_workdir(self) -> Path:
        """The run's work directory (``--workdir``; not created by asking)."""
        return self._run.workdir

    @property
    def workdir(self) -> Path:
        """This node's own directory inside the run's work directory (created on first use)."""
        path = self._run.workdir / _UNSAFE.sub("_", self.node_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def settings(self) -> Mapping[str, Any]:
        """The run's plugin settings (``RunOptions.settings``; the parsed options under the CLI)."""
        return self._run.options.settings

    async def shared(self, key: str, factory: Callable[[], AbstractAsyncContextManager[T]]) -> T:
        """A run-scoped object shared by every node: created once, closed when the run ends.

        ``factory()`` returns an async context manager (``httpx.AsyncClient``,
        a connection pool); the first node to ask enters it, later nodes get
        the same object, and the run exits it after its last node.
        """
        return await self._run.shared(key, factory)

    def progress(self, fraction: float | None = None, message: str = "") -> None:
        """Report progress (``fraction`` in [0, 1]) to the ``dagmill_node_progress`` hook.

        Every call is also a heartbeat: a node that calls it more often than
        its ``stall_after`` is never reported stalled.

        Safe from the trio thread and from threads trio started (the
        ``thread`` executor), which hand the report to the trio thread.
        """
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            trio.from_thread.run_sync(self._run._report_progress, self._index, fraction, message)
            return
        self._run._report_progress(self._index, fraction, message)
