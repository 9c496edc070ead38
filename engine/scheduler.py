"""The scheduler contract: a scheduler decides which ready node starts when."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from dagmill.run import Run


class Scheduler(abc.ABC):
    """Base class of schedulers; plugins return subclasses from ``dagmill_schedulers``.

    A run creates one instance and awaits :meth:`run` once. The scheduler
    starts nodes by awaiting ``run.execute(i)`` (``i`` indexes
    ``run.graph.ids``) for each node exactly once, after every predecessor
    has ended; ``execute`` returns the nodes that became ready because ``i``
    ended. The engine does everything else: inputs, lookups, resources,
    executors, retries, timeouts, hooks, results and the failure policy (it
    cancels ``run`` itself under ``fail_fast``). The scheduler keeps at most
    ``run.max_concurrency`` nodes running (``0`` means no limit).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    experimental: ClassVar[bool] = False

    @abc.abstractmethod
    async def run(self, run: Run) -> None:
        """Execute every node of ``run.graph``; return when all have ended."""
