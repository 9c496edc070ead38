"""dagmill-contrib-nodes: the everyday node types, registered like any third-party plugin.

Installing this distribution adds its node types to ``dagmill plugins``
through the ``dagmill`` entry-point group; nothing in dagmill's core knows
about it.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

import dagmill
from dagmill_contrib_nodes import data, io, process, state, testing, text, values

NODE_TYPES: tuple[dagmill.NodeType, ...] = (
    *values.NODE_TYPES,
    *text.NODE_TYPES,
    *data.NODE_TYPES,
    *state.NODE_TYPES,
    *io.NODE_TYPES,
    *process.NODE_TYPES,
    *testing.NODE_TYPES,
)


@dagmill.hookimpl
def dagmill_node_types() -> Sequence[dagmill.NodeType]:
    return NODE_TYPES


@dagmill.hookimpl
def dagmill_infer_node_type(node: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """Claim the seeds' payload form: ``{"value": 10}``, ``{"op": "add"}``, ``{"text": "hi"}``."""
    payload = node.get("data")
    if not isinstance(payload, Mapping) or len(payload) != 1:
        return None
    ((key, content),) = payload.items()
    if key == "value":
        return "value", {"value": content}
    if key == "op" and isinstance(content, str) and content in values.OPERATIONS:
        return str(content), {}
    if key == "text":
        return "text", {"text": content}
    return None


@dagmill.hookimpl
def dagmill_addoption(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-shell", action="store_true", help="let 'shell' nodes run commands")


@dagmill.hookimpl
def dagmill_run_start(run: dagmill.Run) -> None:
    process.refuse_shell_unless_allowed(run)
