"""Timing and testing: sleep, fail on purpose, fail the first attempts."""

from __future__ import annotations

from typing import Any

import attrs
import trio

import dagmill
from dagmill_contrib_nodes._inputs import listed


@attrs.frozen
class SleepParams:
    seconds: float = attrs.field(validator=attrs.validators.ge(0))
    """How long to sleep."""


@attrs.frozen
class FailParams:
    message: str = "failed on purpose"
    """The error message."""


@attrs.frozen
class FlakyParams:
    failures: int = attrs.field(default=1, validator=attrs.validators.ge(0))
    """How many first attempts fail."""
    value: Any = None
    """The output once an attempt succeeds; without it (null), the inputs pass through."""


def _through(inputs: Any) -> Any:
    items = listed(inputs)
    return None if not items else items[0] if len(items) == 1 else items


@dagmill.node_type("sleep", params=SleepParams)
async def sleep(params: SleepParams, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """Sleep (cancellable), then pass the input through (one input as is, several as a list)."""
    await trio.sleep(params.seconds)
    return _through(inputs)


@dagmill.node_type("fail", params=FailParams)
def fail(params: FailParams, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """Fail with params.message."""
    raise RuntimeError(params.message)


@dagmill.node_type("flaky", params=FlakyParams)
def flaky(params: FlakyParams, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """Fail the first params.failures attempts, then succeed (for testing retries)."""
    if ctx.attempt <= params.failures:
        raise RuntimeError(f"flaky: attempt {ctx.attempt} of the {params.failures} that fail")
    return params.value if params.value is not None else _through(inputs)


NODE_TYPES = (sleep, fail, flaky)
