"""Generate docs/nodes.md from the node types themselves: ``python -m dagmill_contrib_nodes.docs > docs/nodes.md``."""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

import attrs

import dagmill_contrib_nodes


def _field_docs(cls: type) -> dict[str, str]:
    """The string literal under each field of an attrs class (its attribute docstring)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for statement, following in zip(body, body[1:]):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = " ".join(following.value.value.split())
    return docs


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _default(field: Any) -> str:
    if field.default is attrs.NOTHING:
        return "required"
    if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
        return f"`{field.default.factory()!r}`"
    return f"`{field.default!r}`"


def render() -> str:
    """The whole of docs/nodes.md."""
    lines = [
        "# Node types of dagmill-contrib-nodes",
        "",
        "Generated from the node types by `python -m dagmill_contrib_nodes.docs > docs/nodes.md`;",
        "a test fails when this file is stale. Params are checked when a workflow loads.",
        "Inputs are a node's predecessors' outputs, in edge order (or by port).",
        "",
    ]
    for node_type in dagmill_contrib_nodes.NODE_TYPES:
        lines += [f"## `{node_type.name}`", "", node_type.description, ""]
        lines.append(f"Executor: `{node_type.executor}`{' (async)' if node_type.is_async else ''}.")
        lines.append("")
        params = node_type.params
        if params is None:
            lines += ["No params.", ""]
            continue
        attrs.resolve_types(params)
        docs = _field_docs(params)
        lines += ["| param | type | default | meaning |", "|---|---|---|---|"]
        for field in attrs.fields(params):
            if not field.init:
                continue
            meaning = docs.get(field.name, "").replace("|", "\\|")
            lines.append(f"| `{field.name}` | `{_type_name(field.type)}` | {_default(field)} | {meaning} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
