"""The workflow model: frozen value objects that loading produces and runs read."""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from dagmill.graph import Graph


class Status(enum.StrEnum):
    """The state of a node, and (for the terminal ones) of a run."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    CACHED = "cached"


class FailPolicy(enum.StrEnum):
    """What a run does after a node fails."""

    FAIL_FAST = "fail_fast"
    """Cancel every running node; nothing else starts."""
    CONTINUE = "continue"
    """Skip the failure's descendants; every independent branch finishes."""


@attrs.frozen
class Defaults:
    """Workflow-wide settings that a node inherits unless it overrides them."""

    retries: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    retry_backoff: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    retry_backoff_max: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))
    timeout: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )
    executor: str | None = None
    estimate: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    cache: bool = False
    stall_after: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )


@attrs.frozen
class Node:
    """One unit of work: an instance of a node type with its params and overrides.

    ``None`` in an override field means "inherit from the workflow's defaults".
    ``params`` is an instance of the node type's params class (or ``None`` for
    a type that takes none).
    """

    id: str
    type: str
    params: Any = None
    retries: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(0))
    )
    retry_backoff: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(0))
    )
    timeout: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )
    executor: str | None = None
    estimate: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(0))
    )
    resources: Mapping[str, int] = attrs.field(factory=dict, hash=False)
    cache: bool | None = None
    stall_after: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )
    description: str = ""


@attrs.frozen
class Edge:
    """``source``'s output flows into ``target``; with a ``port``, by that name."""

    source: str
    target: str
    port: str | None = None


@attrs.frozen
class Workflow:
    """A validated workflow: nodes, edges, defaults and resource pools.

    Build one with :func:`dagmill.load` or :class:`dagmill.WorkflowBuilder`;
    both check every defect before a ``Workflow`` exists. ``graph`` (levels,
    order, critical path) is computed once and shared by every run.
    """

    name: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...] = ()
    defaults: Defaults = Defaults()
    resources: Mapping[str, int] = attrs.field(factory=dict, hash=False)
    description: str = ""
    _graph: Graph | None = attrs.field(default=None, eq=False, repr=False, alias="_graph")

    @property
    def graph(self) -> Graph:
        """The graph analysis of this workflow (computed on first use, then kept)."""
        if self._graph is None:
            from dagmill.graph import Graph

            object.__setattr__(self, "_graph", Graph.build(self.nodes, self.edges, self.defaults.estimate))
        assert self._graph is not None
        return self._graph

    def node(self, node_id: str) -> Node:
        """The node called ``node_id`` (``KeyError`` if there is none)."""
        return self.nodes[self.graph.index[node_id]]


NodeFunction = Callable[[Any, Any, Any], Any]


@attrs.frozen
class NodeType:
    """A named kind of node that plugins register through ``dagmill_node_types``.

    ``func(params, inputs, ctx)`` does the work, sync or ``async``: ``params``
    is an instance of ``params`` (an attrs class, checked when the workflow is
    loaded; ``None`` for a type without params), ``inputs`` the predecessors'
    outputs (a list in edge order, or a dict by port), ``ctx`` a
    :class:`dagmill.NodeContext`. Its return value is the node's output.
    ``executor`` names where it runs unless the node or the run says otherwise;
    bump ``version`` when the meaning of the output changes (caches key on it);
    ``cache`` makes its nodes cacheable unless a node or the defaults say otherwise;
    ``serializer`` declares how stores (journal, cache) may keep its outputs:
    ``"json"``, or ``"pickle"`` for outputs JSON cannot hold.
    """

    name: str
    func: NodeFunction = attrs.field(repr=False)
    params: type | None = None
    description: str = ""
    executor: str = "inline"
    version: str = "1"
    cache: bool = False
    serializer: str = attrs.field(default="json", validator=attrs.validators.in_(("json", "pickle")))
    is_async: bool = attrs.field(init=False, repr=False)

    @is_async.default
    def _is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    def __reduce__(self) -> tuple[Any, tuple[str, str, str]]:
        """Pickle by reference (module, name): worker processes import the type rather than copy it."""
        return _node_type_by_reference, (self.func.__module__, self.func.__qualname__, self.name)


def _node_type_by_reference(module: str, qualname: str, name: str) -> NodeType:
    """The node type a pickled reference names: the module attribute a decorator left, else an installed type."""
    import importlib

    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if isinstance(target, NodeType) and target.name == name:
        return target
    from dagmill.registry import default_registry

    installed = default_registry().node_types.get(name)
    if installed is None:
        raise LookupError(f"node type {name!r} is neither {module}.{qualname} nor installed in this process")
    return installed


def node_type(
    name: str | None = None,
    *,
    params: type | None = None,
    description: str | None = None,
    executor: str = "inline",
    version: str = "1",
    cache: bool = False,
    serializer: str = "json",
) -> Callable[[NodeFunction], NodeType]:
    """Turn ``func(params, inputs, ctx)`` into a :class:`NodeType`.

    The name defaults to the function's name and the description to the first
    line of its docstring.
    """

    def wrap(func: NodeFunction) -> NodeType:
        doc = inspect.getdoc(func) or ""
        return NodeType(
            name=name or func.__name__,
            func=func,
            params=params,
            description=description if description is not None else doc.partition("\n")[0],
            executor=executor,
            version=version,
            cache=cache,
            serializer=serializer,
        )

    return wrap
