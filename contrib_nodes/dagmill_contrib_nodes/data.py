"""Data: parse JSON, walk into it, pick one input."""

from __future__ import annotations

import json
import re
from typing import Any

import attrs

import dagmill
from dagmill_contrib_nodes._inputs import single

_STEP = re.compile(r"\.?([^.\[\]]+)|\[(-?\d+)\]")


def parse_path(path: str) -> tuple[str | int, ...]:
    """``"a.b[0].c"`` as steps ``("a", "b", 0, "c")``; ``ValueError`` if it is not a path."""
    steps: list[str | int] = []
    position = 0
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None or (position == 0 and path.startswith(".")):
            raise ValueError(f"'path' must look like a.b[0].c, got {path!r} (stuck at character {position + 1})")
        steps.append(match[1] if match[1] is not None else int(match[2]))
        position = match.end()
    return tuple(steps)


def _valid_path(instance: Any, attribute: Any, value: str) -> None:
    parse_path(value)


@attrs.frozen
class JsonGetParams:
    path: str = attrs.field(validator=_valid_path)
    """Dotted keys and [indexes]: ``a.b[0].c``."""
    steps: tuple[str | int, ...] = attrs.field(init=False, repr=False, eq=False)

    @steps.default
    def _steps(self) -> tuple[str | int, ...]:
        return parse_path(self.path)


@attrs.frozen
class SelectParams:
    port: str
    """The input to output: a port name, or a position (``"0"``) for unnamed inputs."""


@dagmill.node_type("json_parse")
def json_parse(params: None, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """Parse the one input (text or bytes) as JSON."""
    document = single(inputs, "json_parse")
    try:
        return json.loads(document)
    except json.JSONDecodeError as exc:
        raise ValueError(f"json_parse: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


@dagmill.node_type("json_get", params=JsonGetParams)
def json_get(params: JsonGetParams, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """Walk a path of keys and indexes into the one input."""
    current = single(inputs, "json_get")
    walked: list[str] = []
    for step in params.steps:
        try:
            current = current[step]
        except (KeyError, IndexError, TypeError):
            where = "".join(walked) or "the input"
            raise LookupError(f"json_get: {where} has no {'index' if isinstance(step, int) else 'key'} {step!r}") from None
        walked.append(f"[{step}]" if isinstance(step, int) else f".{step}" if walked else step)
    return current


@dagmill.node_type("select", params=SelectParams)
def select(params: SelectParams, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """Output one input: the named port, or the input at a position."""
    if isinstance(inputs, dict):
        if params.port not in inputs:
            raise LookupError(f"select: no input port {params.port!r} (ports: {', '.join(inputs)})")
        return inputs[params.port]
    if not params.port.isdigit() or int(params.port) >= len(inputs):
        raise LookupError(f"select: no input {params.port!r} among {len(inputs)} unnamed inputs")
    return inputs[int(params.port)]


NODE_TYPES = (json_parse, json_get, select)
