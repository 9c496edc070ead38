"""Building a workflow in code: the same document, the same validation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from dagmill.load import converter, load
from dagmill.model import Workflow
from dagmill.registry import Registry

_NODE_SETTINGS = ("retries", "retry_backoff", "timeout", "executor", "estimate", "resources", "cache", "stall_after", "description")


class WorkflowBuilder:
    """Assemble a workflow document step by step, then :meth:`build` it through :func:`dagmill.load`.

    >>> wf = (WorkflowBuilder("sums")
    ...       .node("a", "value", params={"value": 1})
    ...       .node("b", "value", params={"value": 2})
    ...       .node("total", "add", after=["a", "b"])
    ...       .build())  # doctest: +SKIP
    """

    def __init__(
        self,
        name: str = "workflow",
        *,
        description: str = "",
        defaults: Mapping[str, Any] | None = None,
        resources: Mapping[str, int] | None = None,
    ) -> None:
        self._document: dict[str, Any] = {"name": name, "nodes": [], "edges": []}
        if description:
            self._document["description"] = description
        if defaults:
            self._document["defaults"] = dict(defaults)
        if resources:
            self._document["resources"] = dict(resources)

    def node(
        self,
        node_id: str,
        node_type: str,
        params: Mapping[str, Any] | Any = None,
        *,
        after: Iterable[str] = (),
        **settings: Any,
    ) -> WorkflowBuilder:
        """Add a node; ``after`` adds an edge from each named node, in order.

        ``params`` is a mapping or an instance of the type's params class;
        ``settings`` are the node's overrides (``retries``, ``timeout``,
        ``executor``, ``estimate``, ``resources``, ...).
        """
        unknown = sorted(set(settings) - set(_NODE_SETTINGS))
        if unknown:
            raise TypeError(f"node(): unknown setting(s) {', '.join(unknown)}; known: {', '.join(_NODE_SETTINGS)}")
        document: dict[str, Any] = {"id": node_id, "type": node_type, **settings}
        if params is not None:
            document["params"] = converter.unstructure(params) if attrs.has(type(params)) else dict(params)
        self._document["nodes"].append(document)
        for source in after:
            self.edge(source, node_id)
        return self

    def edge(self, source: str, target: str, port: str | None = None) -> WorkflowBuilder:
        """Add an edge: ``source``'s output becomes an input of ``target`` (named ``port`` if given)."""
        edge = {"source": source, "target": target}
        if port is not None:
            edge["port"] = port
        self._document["edges"].append(edge)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The workflow document built so far (JSON-ready)."""
        return {key: list(value) if isinstance(value, list) else value for key, value in self._document.items()}

    def build(self, *, plugins: Sequence[object] = (), registry: Registry | None = None) -> Workflow:
        """Validate and return the workflow (``WorkflowError`` lists every defect)."""
        return load(self.to_dict(), plugins=plugins, registry=registry)
