"""Node types for the test suite (named ``t.*`` so they never clash with installed plugins).

Import this module as a plugin: ``dagmill.run(wf, plugins=[nodetypes])``, or
install it for subprocesses with the ``plugin_env`` fixture.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import trio

import dagmill


@attrs.frozen
class ValueParams:
    value: Any = None


@attrs.frozen
class SleepParams:
    seconds: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    marker: str | None = None
    """A file to create when the sleep starts (lets another process wait for it)."""


@attrs.frozen
class FailParams:
    message: str = "failed on purpose"
    after: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))


@attrs.frozen
class FlakyParams:
    failures: int = attrs.field(default=1, validator=attrs.validators.ge(0))


@attrs.frozen
class BeatParams:
    beats: int = 3
    every: float = 1.0


def _values(inputs: Any) -> list[Any]:
    return list(inputs.values()) if isinstance(inputs, dict) else list(inputs)


@dagmill.node_type("t.value", params=ValueParams)
def value(params: ValueParams, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """Output params.value."""
    return params.value


@dagmill.node_type("t.sum")
def total(params: None, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """Sum of every input."""
    return sum(_values(inputs))


@dagmill.node_type("t.echo")
def echo(params: None, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """Output the inputs as they arrived (a list, or a dict by port)."""
    return inputs


@dagmill.node_type("t.noop")
def noop(params: None, inputs: Any, ctx: dagmill.NodeContext) -> None:
    """Do nothing (for overhead benchmarks)."""


@dagmill.node_type("t.sleep", params=SleepParams)
async def sleep(params: SleepParams, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """Sleep on trio's clock, then output the sum of the inputs that are not None (or None)."""
    if params.marker:
        await trio.Path(params.marker).touch()
    await trio.sleep(params.seconds)
    values = [v for v in _values(inputs) if v is not None]
    return sum(values) if values else None


@dagmill.node_type("t.fail", params=FailParams)
async def fail(params: FailParams, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """Sleep params.after seconds on trio's clock, then raise RuntimeError(params.message)."""
    if params.after:
        await trio.sleep(params.after)
    raise RuntimeError(params.message)


@dagmill.node_type("t.flaky", params=FlakyParams)
def flaky(params: FlakyParams, inputs: Any, ctx: dagmill.NodeContext) -> int:
    """Fail the first params.failures attempts, then output the attempt number."""
    if ctx.attempt <= params.failures:
        raise RuntimeError(f"attempt {ctx.attempt} fails on purpose")
    return ctx.attempt


@dagmill.node_type("t.beat", params=BeatParams)
async def beat(params: BeatParams, inputs: Any, ctx: dagmill.NodeContext) -> int:
    """Report progress params.beats times, params.every seconds apart; output the beat count."""
    for k in range(params.beats):
        await trio.sleep(params.every)
        ctx.progress((k + 1) / params.beats)
    return params.beats


@attrs.frozen
class SpinParams:
    rounds: int = 100_000


@attrs.frozen
class PidParams:
    marker: str | None = None
    """A file to write the process id to, before anything else."""
    seconds: float = 0.0
    """Then block the process this long (time.sleep: only a kill or the end stops it)."""


@dagmill.node_type("t.spin", params=SpinParams)
def spin(params: SpinParams, inputs: Any, ctx: Any) -> int:
    """Burn CPU: sum of squares below params.rounds, plus the inputs."""
    return sum(i * i for i in range(params.rounds)) % 1_000_003 + sum(v for v in _values(inputs) if isinstance(v, int))


@dagmill.node_type("t.pid", params=PidParams)
def pid(params: PidParams, inputs: Any, ctx: Any) -> dict[str, Any]:
    """Where the node ran: process id, thread name, working directory; optionally block first."""
    import os
    import threading
    import time

    if params.marker:
        with open(params.marker, "w") as marker:
            marker.write(str(os.getpid()))
    if params.seconds:
        time.sleep(params.seconds)
    return {"pid": os.getpid(), "thread": threading.current_thread().name, "cwd": os.getcwd()}


@dagmill.node_type("t.die")
def die(params: None, inputs: Any, ctx: Any) -> None:
    """End the process at once, as a crash would."""
    import os

    os._exit(17)


@dagmill.node_type("t.lock")
def lock(params: None, inputs: Any, ctx: Any) -> Any:
    """Output something that cannot be pickled."""
    import threading

    return threading.Lock()


@dagmill.node_type("t.touch")
def touch(params: None, inputs: Any, ctx: Any) -> str:
    """Create a file in the current directory; fail if the input says so."""
    with open("made-here.txt", "w") as made:
        made.write(ctx.node_id)
    if inputs and inputs[0] == "fail":
        raise RuntimeError("failed after writing")
    return "made-here.txt"


@dagmill.hookimpl
def dagmill_node_types() -> Sequence[dagmill.NodeType]:
    return [value, total, echo, noop, sleep, fail, flaky, beat, spin, pid, die, lock, touch]
