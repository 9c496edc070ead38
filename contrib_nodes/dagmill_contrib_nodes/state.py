"""Run-scoped state (seed 002's variables, counters, accumulators), safe under concurrent nodes."""

from __future__ import annotations

from typing import Any

import attrs

import dagmill
from dagmill_contrib_nodes._inputs import listed



@attrs.frozen
class SetVarParams:
    name: str
    """The variable."""
    value: Any = None
    """The value to set; without it (null), the node's one input."""


@attrs.frozen
class GetVarParams:
    name: str
    """The variable."""
    default: Any = None
    """Output when the variable is not set."""


@attrs.frozen
class CounterParams:
    name: str
    """The counter's variable."""
    step: int = 1
    """Added on each run of the node."""


@attrs.frozen
class AccumulateParams:
    name: str
    """The list variable."""


@dagmill.node_type("set_var", params=SetVarParams)
def set_var(params: SetVarParams, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """Set a run variable (to params.value, or the one input) and output it."""
    items = listed(inputs)
    if params.value is None and len(items) != 1:
        raise ValueError(f"set_var {params.name!r}: give params.value or exactly one input, got {len(items)} inputs")
    value = params.value if params.value is not None else items[0]
    ctx.variables.set(params.name, value)
    return value


@dagmill.node_type("get_var", params=GetVarParams)
def get_var(params: GetVarParams, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """Output a run variable (or params.default); a list is copied, so later appends do not change it."""
    value = ctx.variables.get(params.name, params.default)
    return list(value) if isinstance(value, list) else value


@dagmill.node_type("counter", params=CounterParams)
def counter(params: CounterParams, inputs: Any, ctx: dagmill.NodeContext) -> int:
    """Add params.step to a run counter atomically; output the new count."""
    return ctx.variables.update(params.name, lambda count: count + params.step, 0)


def _extended(current: list[Any] | None, items: list[Any]) -> list[Any]:
    if current is None:
        return list(items)
    current.extend(items)
    return current


@dagmill.node_type("accumulate", params=AccumulateParams)
def accumulate(params: AccumulateParams, inputs: Any, ctx: dagmill.NodeContext) -> int:
    """Append every input to a run list atomically; output the list's length (read it with get_var)."""
    items = listed(inputs)
    return len(ctx.variables.update(params.name, lambda current: _extended(current, items)))


NODE_TYPES = (set_var, get_var, counter, accumulate)
