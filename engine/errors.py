"""The exception hierarchy: every error dagmill raises on purpose is a ``DagmillError``."""

from __future__ import annotations

from collections.abc import Iterable

import attrs


class DagmillError(Exception):
    """Base class of every error dagmill raises on purpose."""


@attrs.frozen
class Problem:
    """One defect of a workflow document: where it is and what is wrong.

    ``place`` is a path into the document (``nodes[2].params.url``), a file
    position (``flow.json:3:14``) or a graph-wide subject (``cycle``).
    """

    place: str
    message: str

    def __str__(self) -> str:
        return f"{self.place}: {self.message}"


class WorkflowError(DagmillError):
    """A workflow document has defects; ``problems`` lists every one of them."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(map(str, self.problems)))


class UsageError(DagmillError):
    """A run was asked for something that cannot be done (unknown scheduler, bad option)."""


class SchedulerError(DagmillError):
    """A scheduler broke its contract (started a node twice, or before its predecessors ended)."""


class NodeTimeoutError(DagmillError):
    """A node attempt ran past its ``timeout``."""


class NodeStalledError(DagmillError):
    """A node sent no heartbeat for longer than its ``stall_after`` and the run cancels stalled nodes."""
