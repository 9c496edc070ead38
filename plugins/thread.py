"""The ``thread`` executor: sync node functions in worker threads, under the executor's own limiter.

For nodes that block on I/O (a database driver, a sync HTTP client). A
thread cannot be interrupted: when such a node is cancelled (a timeout,
fail_fast, Ctrl-C) the run stops waiting for it at once — the node ends
``cancelled`` or timed out — while the thread runs on to its end in the
background and its result is dropped. The run's result lists those nodes in
``extras["abandoned_threads"]``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import trio

import dagmill


class ThreadExecutor(dagmill.Executor):
    """Runs sync node functions with ``trio.to_thread.run_sync``; async ones stay on the trio thread."""

    name = "thread"
    description = "sync nodes in worker threads (blocking I/O); a cancelled node's thread is abandoned"

    def __init__(self, run: dagmill.Run) -> None:
        super().__init__(run)
        self.limiter = trio.CapacityLimiter(run.max_concurrency or dagmill.auto_concurrency())

    async def submit(self, node_type: dagmill.NodeType, params: Any, inputs: Any, ctx: dagmill.NodeContext) -> Any:
        if node_type.is_async:
            return await node_type.func(params, inputs, ctx)
        call = functools.partial(node_type.func, params, inputs, ctx)
        try:
            return await trio.to_thread.run_sync(call, limiter=self.limiter, abandon_on_cancel=True)
        except trio.Cancelled:
            self.run.extras.setdefault("abandoned_threads", []).append(ctx.node_id)
            raise


@dagmill.hookimpl
def dagmill_executors() -> Sequence[type[dagmill.Executor]]:
    return [ThreadExecutor]
