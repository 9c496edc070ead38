"""The ``inline`` executor: node functions run on the trio thread."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagmill


class InlineExecutor(dagmill.Executor):
    """Awaits async node functions and calls sync ones directly, on the trio thread.

    A sync function blocks the whole run while it works: give node types that
    block (I/O, CPU) the ``thread`` or ``process`` executor instead.
    """

    name = "inline"
    description = "on the trio thread: async nodes, and sync nodes that return at once"

    async def submit(self, node_type: dagmill.NodeType, params: Any, inputs: Any, ctx: dagmill.NodeContext) -> Any:
        if node_type.is_async:
            return await node_type.func(params, inputs, ctx)
        return node_type.func(params, inputs, ctx)


@dagmill.hookimpl
def dagmill_executors() -> Sequence[type[dagmill.Executor]]:
    return [InlineExecutor]
