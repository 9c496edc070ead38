"""What a run produces: per-node records, per-level timings and the run's outcome.

Times (``ready_at``, ``started_at``, ``ended_at``) are seconds since the run
started, read from trio's clock, so they are exact under a test clock too.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import attrs

from dagmill.model import Status


@attrs.frozen
class StoredResult:
    """An output found by a ``dagmill_node_lookup`` answer; ``origin`` says where from."""

    output: Any
    origin: str = ""


@attrs.frozen
class NodeResult:
    """The final record of one node.

    ``output`` is kept for sink nodes, and for every node when the run keeps
    outputs (``keep_outputs=True``); otherwise the engine releases it once the
    last consumer has it. ``error`` is ``"Type: message"``; ``traceback`` the
    formatted traceback of the last failed attempt.
    """

    id: str
    status: Status
    level: int
    output: Any = None
    error: str | None = None
    traceback: str | None = None
    attempts: int = 0
    ready_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    stalled: bool = False
    """Whether the node went silent past its ``stall_after`` at some point."""

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, if the node started."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    @property
    def queue_wait(self) -> float | None:
        """Seconds from ready to start, if the node started."""
        if self.started_at is None or self.ready_at is None:
            return None
        return self.started_at - self.ready_at

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of ``--json``."""
        return {
            "status": self.status.value,
            "output": self.output,
            "error": self.error,
            "traceback": self.traceback,
            "attempts": self.attempts,
            "level": self.level,
            "ready_at": self.ready_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "stalled": self.stalled,
        }


@attrs.frozen
class LevelResult:
    """Timings of one graph level: from its first node's start to its last node's end."""

    level: int
    width: int
    started_at: float | None
    ended_at: float | None
    peak_concurrency: int

    @property
    def duration(self) -> float | None:
        """Seconds the level was open, if any of its nodes ran."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of ``--json``."""
        return {
            "level": self.level,
            "width": self.width,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration": self.duration,
            "peak_concurrency": self.peak_concurrency,
        }


@attrs.frozen
class RunResult:
    """The outcome of a run.

    ``status`` is ``succeeded`` (every node succeeded or was cached),
    ``failed`` (a node failed, or the run timed out) or ``cancelled``
    (interrupted). ``outputs`` holds the outputs of the sink nodes that
    succeeded. ``error`` explains a run-level failure (timeout, interruption).
    """

    run_id: str
    workflow: str
    status: Status
    scheduler: str
    max_concurrency: int
    nodes: dict[str, NodeResult]
    levels: list[LevelResult]
    outputs: dict[str, Any]
    started_at: float
    duration: float
    error: str | None = None
    extras: dict[str, Any] = attrs.field(factory=dict)
    """Facts plugins add in ``dagmill_run_end``, by plugin (``{"cache": {"hits": 3, "misses": 1}}``)."""

    @property
    def ok(self) -> bool:
        """Whether the run succeeded."""
        return self.status is Status.SUCCEEDED

    def counts(self) -> dict[str, int]:
        """How many nodes ended in each status (only statuses that occur)."""
        counts = Counter(node.status for node in self.nodes.values())
        return {status.value: count for status, count in counts.items()}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of ``--json``."""
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "status": self.status.value,
            "scheduler": self.scheduler,
            "max_concurrency": self.max_concurrency,
            "started_at": self.started_at,
            "duration": self.duration,
            "error": self.error,
            "counts": self.counts(),
            "nodes": {node_id: node.to_dict() for node_id, node in self.nodes.items()},
            "levels": [level.to_dict() for level in self.levels],
            "outputs": self.outputs,
            "extras": self.extras,
        }

    def to_json(self, indent: int | None = None) -> str:
        """One strict JSON object; values JSON cannot hold become their ``repr``."""
        return json.dumps(_jsonable(self.to_dict()), indent=indent, allow_nan=False)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return repr(value)
