"""Node types for the durability tests (``d.*``): each execution leaves a file, so a test can count them.

Executions are recorded in the directory named by ``$JOURNAL_EFFECTS``
(default ``effects`` in the working directory) as one new file per
execution, ``<node id>.<unique>``, created before the node returns. Install
it as a plugin in code (``plugins=[journal_nodes]``) or, for subprocesses,
as a distribution (see ``conftest.write_distribution``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import trio

import dagmill


@attrs.frozen
class WorkParams:
    value: int = 0
    seconds: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))


@attrs.frozen
class FaultParams:
    mode: str = attrs.field(default="raise", validator=attrs.validators.in_(("raise", "hang", "die", "none")))
    """What the first execution does: raise, hang (sleep for an hour on trio's clock), die (os._exit: for worker processes)."""


@attrs.frozen
class StubbornParams:
    seconds: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    marker: str | None = None


@attrs.frozen
class BlobParams:
    size: int = 0
    seconds: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))


def effects() -> Path:
    """The directory where executions are recorded."""
    return Path(os.environ.get("JOURNAL_EFFECTS", "effects"))


def record(node_id: str) -> None:
    """Leave one new file for this execution of ``node_id``."""
    folder = effects()
    folder.mkdir(parents=True, exist_ok=True)
    os.close(os.open(folder / f"{node_id}.{uuid.uuid4().hex}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))


def executions(folder: Path) -> dict[str, int]:
    """How many times each node ran, from the files in ``folder``."""
    counts: dict[str, int] = {}
    if folder.is_dir():
        for name in os.listdir(folder):
            node_id, _, rest = name.rpartition(".")
            if rest != "faulted":
                counts[node_id] = counts.get(node_id, 0) + 1
    return counts


def number(value: Any) -> int:
    """The number an output stands for: the first item of a tuple (``d.pair``), the length of a string (``d.blob``)."""
    if isinstance(value, tuple):
        return value[0]
    if isinstance(value, str):
        return len(value)
    return int(value or 0)


def _total(params: WorkParams, inputs: Any) -> int:
    values = inputs.values() if isinstance(inputs, dict) else inputs
    return (params.value + sum(number(v) for v in values)) % 1_000_003


@dagmill.node_type("d.work", params=WorkParams)
async def work(params: WorkParams, inputs: Any, ctx: dagmill.NodeContext) -> int:
    """Record the execution, sleep params.seconds on trio's clock, output params.value plus the inputs (mod 1,000,003)."""
    record(ctx.node_id)
    await trio.sleep(params.seconds)
    return _total(params, inputs)


@dagmill.node_type("d.pair", params=WorkParams, serializer="pickle")
async def pair(params: WorkParams, inputs: Any, ctx: dagmill.NodeContext) -> tuple[int, frozenset[str]]:
    """Like d.work, but output a tuple with a frozenset: only pickle keeps it."""
    record(ctx.node_id)
    await trio.sleep(params.seconds)
    return _total(params, inputs), frozenset({ctx.node_id})


@dagmill.node_type("d.tuple", params=WorkParams)
def as_tuple(params: WorkParams, inputs: Any, ctx: dagmill.NodeContext) -> tuple[int, int]:
    """Output a tuple from a JSON-declared type: the journal cannot store it as it is."""
    record(ctx.node_id)
    return _total(params, inputs), params.value


@dagmill.node_type("d.blob", params=BlobParams)
async def blob(params: BlobParams, inputs: Any, ctx: dagmill.NodeContext) -> str:
    """Sleep params.seconds on trio's clock, then output a string of params.size characters."""
    record(ctx.node_id)
    await trio.sleep(params.seconds)
    return "x" * params.size


@dagmill.node_type("d.fault", params=FaultParams)
async def fault(params: FaultParams, inputs: Any, ctx: Any) -> int:
    """Fail the first execution as params.mode says (a marker file remembers it); later ones output 1 plus the inputs."""
    record(ctx.node_id)
    marker = effects() / f"{ctx.node_id}.faulted"
    if params.mode != "none" and not marker.exists():
        marker.touch()
        if params.mode == "raise":
            raise RuntimeError(f"{ctx.node_id} fails on purpose")
        if params.mode == "hang":
            await trio.sleep(3600)
        if params.mode == "die":
            os._exit(17)
    return _total(WorkParams(1), inputs)


@dagmill.node_type("d.maybe", params=WorkParams)
async def maybe(params: WorkParams, inputs: Any, ctx: dagmill.NodeContext) -> int:
    """Append the node id to ctx.settings["log"], sleep on trio's clock, then fail if ctx.settings["fail"] names the node, else act as d.work.

    Run settings are not part of a fingerprint: the same document fails or not as the run says.
    """
    ctx.settings["log"].append(ctx.node_id)
    await trio.sleep(params.seconds)
    if ctx.node_id in ctx.settings["fail"]:
        raise RuntimeError(f"{ctx.node_id} fails in this run")
    return _total(params, inputs)


@dagmill.node_type("d.stubborn", params=StubbornParams)
async def stubborn(params: StubbornParams, inputs: Any, ctx: dagmill.NodeContext) -> int:
    """Create params.marker, then sleep params.seconds shielded from cancellation: a node slow to stop."""
    if params.marker:
        Path(params.marker).touch()
    with trio.CancelScope(shield=True):
        await trio.sleep(params.seconds)
    return 0


@dagmill.hookimpl
def dagmill_node_types() -> Sequence[dagmill.NodeType]:
    return [work, pair, as_tuple, blob, fault, maybe, stubborn]
