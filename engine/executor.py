"""The executor contract: where a node's function runs."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from dagmill.context import NodeContext
    from dagmill.model import NodeType
    from dagmill.run import Run


class Deferred(abc.ABC):
    """A node output that stays where it was computed (a dask future) until a value is needed.

    An executor whose class sets ``produces_deferred`` may return one from
    :meth:`Executor.submit`. The engine hands it as it is to executors that
    set ``accepts_deferred``, and awaits :meth:`fetch` for every other
    consumer, and for outputs that go into the run's result.
    """

    @abc.abstractmethod
    async def fetch(self) -> Any:
        """The value itself (a checkpoint; may raise what computing it raised)."""


class Executor(abc.ABC):
    """Base class of executors; plugins return subclasses from ``dagmill_executors``.

    A run creates one instance per executor its nodes use, passing itself,
    and enters it as an async context manager around the whole run: acquire
    pools and clients in ``__aenter__``, release them in ``__aexit__``.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    produces_deferred: ClassVar[bool] = False
    """Whether :meth:`submit` may return :class:`Deferred` outputs."""
    accepts_deferred: ClassVar[bool] = False
    """Whether :meth:`submit` takes :class:`Deferred` inputs as they are."""

    def __init__(self, run: Run) -> None:
        self.run = run

    async def __aenter__(self) -> Executor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    @abc.abstractmethod
    async def submit(self, node_type: NodeType, params: Any, inputs: Any, ctx: NodeContext) -> Any:
        """Run ``node_type.func(params, inputs, ctx)`` and return its output.

        Raise what the function raised; let cancellation through.
        """
