"""Loading: documents (JSON, TOML, dicts) become a validated :class:`Workflow`.

Every defect is collected with its place and reported at once in one
:class:`WorkflowError`; no input, however malformed, escapes as another
exception.
"""

from __future__ import annotations

import difflib
import gc
import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.cols import is_mapping, is_mutable_sequence, list_structure_factory, mapping_structure_factory
from cattrs.gen import make_dict_structure_fn
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from dagmill.errors import Problem, WorkflowError
from dagmill.graph import CycleError, Graph
from dagmill.model import Defaults, Edge, Node, Workflow
from dagmill.registry import Registry, registry_for

_TOP_LEVEL = ("name", "description", "defaults", "resources", "nodes", "edges")
_MAX_LISTED = 60
MAX_PARAM_DEPTH = 100
"""Lists and objects in a param may nest this deep: fingerprints, the journal and ``--json`` all walk them."""
_CONTAINERS = (Mapping, list, tuple)


class _Mismatch(TypeError):
    """A value of the wrong JSON type; the message is ready for a person."""


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, Mapping)):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return repr(value)


def _strict(kinds: tuple[type, ...], what: str, cast: Any = None) -> Any:
    def structure(value: Any, _: Any) -> Any:
        if isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds):
            return cast(value) if cast else value
        raise _Mismatch(f"expected {what}, got {_describe(value)}")

    return structure


def make_converter() -> cattrs.Converter:
    """The converter of every document: strict JSON types, unknown keys refused, all errors collected."""
    converter = cattrs.Converter(detailed_validation=True, forbid_extra_keys=True)
    converter.register_structure_hook(str, _strict((str,), "a string"))
    converter.register_structure_hook(int, _strict((int,), "an integer"))
    converter.register_structure_hook(float, _strict((int, float), "a number", float))
    converter.register_structure_hook(bool, _strict((bool,), "true or false"))

    def shaped(make: Any, kinds: type | tuple[type, ...], what: str) -> Any:
        """A hook factory: refuse values of the wrong JSON shape, then structure with cattrs' own hook."""

        def factory(cls: type) -> Any:
            inner = make(cls, converter)

            def structure(value: Any, _: Any) -> Any:
                if not isinstance(value, kinds):
                    raise _Mismatch(f"expected {what}, got {_describe(value)}")
                return inner(value, cls)

            return structure

        return factory

    converter.register_structure_hook_factory(attrs.has, shaped(make_dict_structure_fn, Mapping, "an object"))
    # a string is a sequence too, but never a list param
    converter.register_structure_hook_factory(is_mutable_sequence, shaped(list_structure_factory, (list, tuple), "a list"))
    converter.register_structure_hook_factory(is_mapping, shaped(mapping_structure_factory, Mapping, "an object"))
    return converter


converter = make_converter()


def _suggest(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and objects nest in ``value`` more than ``limit`` levels deep (iteratively: no recursion limit)."""
    stack = [(value, 1)]
    while stack:
        container, depth = stack.pop()
        if depth > limit:
            return True
        children = container.values() if isinstance(container, Mapping) else container
        stack.extend((child, depth + 1) for child in children if isinstance(child, _CONTAINERS))
    return False


def _listing(names: Iterable[str]) -> str:
    names = sorted(names)
    shown = ", ".join(names[:_MAX_LISTED])
    more = f", ... {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
    return shown + more if names else "none"


_VALIDATOR_MESSAGE = re.compile(r"^'(?P<name>\w+)' must be (?P<rule>.+): (?P<value>.*)$", re.S)
_FIELD_MESSAGE = re.compile(r"^'(?P<name>\w+)' (?P<message>.+)$", re.S)


def structure_problems(exc: BaseException, place: str) -> list[Problem]:
    """Turn a cattrs/attrs structuring error into placed problems."""
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        with_notes, without = exc.group_exceptions()
        problems: list[Problem] = []
        for sub, note in with_notes:
            name = getattr(note, "name", None)
            sub_place = f"{place}.{name}" if name is not None else f"{place}[{getattr(note, 'index', '?')!r}]"
            problems += structure_problems(sub, sub_place)
        for sub in without:
            problems += structure_problems(sub, place)
        return problems
    if isinstance(exc, ForbiddenExtraKeysError):
        known = [f.name for f in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        return [
            Problem(f"{place}.{key}" if place else str(key), "unknown field" + _suggest(str(key), known))
            for key in sorted(exc.extra_fields, key=str)
        ]
    if isinstance(exc, KeyError):
        return [Problem(place, "required")]
    if isinstance(exc, _Mismatch):
        return [Problem(place, str(exc))]
    match = _VALIDATOR_MESSAGE.match(str(exc))
    if match:
        return [Problem(f"{place}.{match['name']}", f"must be {match['rule']}, got {match['value']}")]
    match = _FIELD_MESSAGE.match(str(exc))
    if match:
        return [Problem(f"{place}.{match['name']}", match["message"])]
    return [Problem(place, str(exc) or type(exc).__name__)]


def load(
    source: str | os.PathLike[str] | Mapping[str, Any] | Workflow,
    *,
    plugins: Sequence[object] = (),
    registry: Registry | None = None,
    name: str | None = None,
) -> Workflow:
    """Load and validate a workflow from a path (``.json`` or ``.toml``) or a dict.

    Raises :class:`WorkflowError` listing every defect, each with its place.
    A :class:`Workflow` is returned as it is.
    """
    if isinstance(source, Workflow):
        return source
    if not isinstance(source, (str, os.PathLike)):
        return _from_document(source, "document", name, registry_for(plugins, registry))
    path = Path(source)
    document = read_document(path)
    return _from_document(document, str(path), name or path.stem, registry_for(plugins, registry))


def loads(
    text: str,
    format: str = "json",
    *,
    plugins: Sequence[object] = (),
    registry: Registry | None = None,
    name: str | None = None,
) -> Workflow:
    """Load and validate a workflow from JSON or TOML text."""
    document = _parse(text, format, "document")
    return _from_document(document, "document", name, registry_for(plugins, registry))


def read_document(path: Path) -> Any:
    """Read and parse a JSON or TOML file (by suffix), or raise a placed :class:`WorkflowError`."""
    where = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorkflowError([Problem(where, "no such file")]) from None
    except IsADirectoryError:
        raise WorkflowError([Problem(where, "is a directory, not a workflow file")]) from None
    except PermissionError:
        raise WorkflowError([Problem(where, "permission denied")]) from None
    except OSError as exc:
        raise WorkflowError([Problem(where, f"cannot read: {exc.strerror or exc}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problem = f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}, line {line})"
        raise WorkflowError([Problem(where, problem)]) from None
    return _parse(text, "toml" if path.suffix.lower() == ".toml" else "json", where)


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _parse(text: str, format: str, where: str) -> Any:
    if format == "json":
        try:
            return json.loads(text.removeprefix("\ufeff"))
        except json.JSONDecodeError as exc:
            raise WorkflowError([Problem(f"{where}:{exc.lineno}:{exc.colno}", f"invalid JSON: {exc.msg}")]) from None
        except RecursionError:
            raise WorkflowError([Problem(where, "invalid JSON: nested too deeply")]) from None
    if format == "toml":
        try:
            return tomllib.loads(text)
        except RecursionError:
            raise WorkflowError([Problem(where, "invalid TOML: nested too deeply")]) from None
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            position = _TOML_POSITION.search(message)
            if position:
                where = f"{where}:{position[1]}:{position[2]}"
                message = message[: position.start()]
            raise WorkflowError([Problem(where, f"invalid TOML: {message}")]) from None
    raise WorkflowError([Problem(where, f"unknown document format {format!r} (json or toml)")])


class _Loader:
    """One pass over one document, collecting every problem."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.problems: list[Problem] = []

    def problem(self, place: str, message: str) -> None:
        self.problems.append(Problem(place, message))

    def structure(self, value: Any, cls: type, place: str) -> Any:
        try:
            return converter.structure(value, cls)
        except Exception as exc:  # every structuring failure becomes placed problems
            self.problems += structure_problems(exc, place)
            return None

    def expect(self, value: Any, kind: type, what: str, place: str) -> bool:
        if isinstance(value, kind) and not isinstance(value, bool):
            return True
        self.problem(place, f"expected {what}, got {_describe(value)}")
        return False

    def workflow(self, document: Any, where: str, name: str | None) -> Workflow | None:
        if not isinstance(document, Mapping):
            self.problem(where, f"expected an object at the top level, got {_describe(document)}")
            return None
        for key in document:
            if key not in _TOP_LEVEL:
                self.problem(str(key), "unknown field" + _suggest(str(key), _TOP_LEVEL))
        doc_name = document.get("name", name or "workflow")
        self.expect(doc_name, str, "a string", "name")
        description = document.get("description", "")
        self.expect(description, str, "a string", "description")
        defaults = self.structure(document.get("defaults", {}), Defaults, "defaults") or Defaults()
        self.check_executor(defaults.executor, "defaults.executor")
        pools = self.pools(document.get("resources", {}))
        if "nodes" not in document:
            self.problem("nodes", "required")
        raw_nodes = document.get("nodes", [])
        raw_edges = document.get("edges", [])
        nodes = self.nodes(raw_nodes, pools) if self.expect(raw_nodes, list, "a list", "nodes") else []
        edges = self.edges(raw_edges, nodes) if self.expect(raw_edges, list, "a list", "edges") else []
        graph = self.graph(nodes, edges, defaults)
        if self.problems:
            return None
        return Workflow(
            name=doc_name,
            nodes=tuple(node for _, node in nodes if node is not None),
            edges=tuple(edge for _, edge in edges),
            defaults=defaults,
            resources=pools,
            description=description,
            _graph=graph,
        )

    def check_executor(self, executor: str | None, place: str) -> None:
        if executor is not None and executor not in self.registry.executors:
            known = self.registry.executors
            self.problem(place, f"unknown executor {executor!r}{_suggest(executor, known)} (installed: {_listing(known)})")

    def pools(self, raw: Any) -> dict[str, int]:
        if not self.expect(raw, Mapping, "an object", "resources"):
            return {}
        pools = {}
        for pool, capacity in raw.items():
            if isinstance(capacity, int) and not isinstance(capacity, bool) and capacity >= 1:
                pools[str(pool)] = capacity
            else:
                self.problem(f"resources.{pool}", f"expected a positive integer, got {_describe(capacity)}")
        return pools

    def nodes(self, raw_nodes: list[Any], pools: Mapping[str, int]) -> list[tuple[str, Node | None]]:
        """Every node with a usable id, paired with its ``Node`` (``None`` if it has other defects)."""
        nodes: list[tuple[str, Node | None]] = []
        first_place: dict[str, int] = {}
        for i, raw in enumerate(raw_nodes):
            place = f"nodes[{i}]"
            if not self.expect(raw, Mapping, "an object", place):
                continue
            node_id = raw.get("id")
            node = self.node(raw, place, pools)
            if not isinstance(node_id, str) or not node_id:
                continue
            if node_id in first_place:
                self.problem(f"{place}.id", f"duplicate id {node_id!r} (first at nodes[{first_place[node_id]}])")
                continue
            first_place[node_id] = i
            nodes.append((node_id, node))
        return nodes

    def node(self, raw: Mapping[str, Any], place: str, pools: Mapping[str, int]) -> Node | None:
        if type(raw) is dict and raw.keys() <= _PLAIN_NODE_KEYS:  # the common node, cheaply: no overrides to check
            node_id, type_name = raw.get("id"), raw.get("type")
            node_type = self.registry.node_types.get(type_name) if type(type_name) is str else None
            if type(node_id) is str and node_id and node_type is not None:
                before = len(self.problems)
                params = self.params(node_type.params, type_name, raw.get("params"), f"{place}.params")
                return Node(node_id, type_name, params) if len(self.problems) == before else None
        fields = dict(raw)
        if "type" not in fields and "data" in fields:
            try:
                claimed = self.registry.hook.dagmill_infer_node_type(node=raw)
            except Exception as exc:  # a plugin's bug must not hide the document's other defects behind a traceback
                self.problem(f"{place}.data", f"a plugin failed on this payload ({type(exc).__name__}: {exc})")
                return None
            if claimed is None:
                self.problem(f"{place}.data", "no installed plugin recognizes this payload; give the node a 'type'")
                return None
            del fields["data"]
            fields["type"], fields["params"] = claimed
        raw_params = fields.pop("params", None)
        before = len(self.problems)
        type_name = fields.get("type")
        if isinstance(type_name, str):
            node_type = self.registry.node_types.get(type_name)
            if node_type is None:
                known = self.registry.node_types
                self.problem(
                    f"{place}.type",
                    f"unknown node type {type_name!r}{_suggest(type_name, known)} (installed: {_listing(known)})",
                )
            else:
                fields["params"] = self.params(node_type.params, type_name, raw_params, f"{place}.params")
        node = self.structure(fields, Node, place)
        if node is None:
            return None
        if not node.id:
            self.problem(f"{place}.id", "must not be empty")
        self.check_executor(node.executor, f"{place}.executor")
        for pool, amount in node.resources.items():
            if pool not in pools:
                self.problem(f"{place}.resources.{pool}", f"unknown resource pool{_suggest(pool, pools)} (declared: {_listing(pools)})")
            elif not 1 <= amount <= pools[pool]:
                self.problem(f"{place}.resources.{pool}", f"must be between 1 and the pool's capacity {pools[pool]}, got {amount}")
        return node if len(self.problems) == before else None

    def params(self, params_class: type | None, type_name: str, raw: Any, place: str) -> Any:
        if params_class is None:
            if raw not in (None, {}):
                self.problem(place, f"node type {type_name!r} takes no params")
            return None
        if isinstance(raw, Mapping):
            for key, value in raw.items():
                if isinstance(value, _CONTAINERS) and _deeper_than(value, MAX_PARAM_DEPTH):
                    self.problem(f"{place}.{key}", f"nested deeper than {MAX_PARAM_DEPTH} levels")
                    return None
        return self.structure({} if raw is None else raw, params_class, place)

    def edges(self, raw_edges: list[Any], nodes: list[tuple[str, Node | None]]) -> list[tuple[int, Edge]]:
        known = {node_id for node_id, _ in nodes}
        edges: list[tuple[int, Edge]] = []
        seen: dict[tuple[str, str, str | None], int] = {}
        for j, raw in enumerate(raw_edges):
            edge = _plain_edge(raw)
            if edge is None:
                place = f"edges[{j}]"
                edge = self.structure(raw, Edge, place) if self.expect(raw, Mapping, "an object", place) else None
                if edge is None:
                    continue
            key = (edge.source, edge.target, edge.port)
            if edge.source in known and edge.target in known and edge.source != edge.target and key not in seen:
                seen[key] = j
                edges.append((j, edge))
                continue
            place = f"edges[{j}]"
            if edge.source not in known or edge.target not in known:
                for end in ("source", "target"):
                    node_id = getattr(edge, end)
                    if node_id not in known:
                        self.problem(f"{place}.{end}", f"unknown node {node_id!r}{_suggest(node_id, known)}")
            elif edge.source == edge.target:
                self.problem(place, f"self-loop on {edge.source!r}")
            else:
                self.problem(place, f"duplicate of edges[{seen[key]}] ({edge.source!r} -> {edge.target!r})")
        if any(edge.port is not None for _, edge in edges):
            self.check_ports(edges)
        return edges

    def check_ports(self, edges: list[tuple[int, Edge]]) -> None:
        """Edges into one node either all name distinct ports or none does."""
        first: dict[str, tuple[int, str | None]] = {}
        fed: dict[tuple[str, str], int] = {}
        for j, edge in edges:
            k, port = first.setdefault(edge.target, (j, edge.port))
            if (edge.port is None) != (port is None):
                named = "names none" if port is None else "names a port"
                self.problem(
                    f"edges[{j}].port",
                    f"edges into {edge.target!r} must all name a port or none (edges[{k}] {named})",
                )
            elif edge.port is not None:
                k = fed.setdefault((edge.target, edge.port), j)
                if k != j:
                    self.problem(f"edges[{j}].port", f"port {edge.port!r} of {edge.target!r} is already fed by edges[{k}]")

    def graph(self, nodes: list[tuple[str, Node | None]], edges: list[tuple[int, Edge]], defaults: Defaults) -> Graph | None:
        ids = [node_id for node_id, _ in nodes]
        index = {node_id: i for i, node_id in enumerate(ids)}
        pairs = [(index[e.source], index[e.target], e.port) for _, e in edges]
        estimates = [defaults.estimate if n is None or n.estimate is None else n.estimate for _, n in nodes]
        try:
            return Graph(ids, pairs, estimates)
        except CycleError as exc:
            for cycle in exc.cycles:
                self.problem("cycle", " -> ".join(cycle))
            return None


_EDGE_KEYS = {"source", "target", "port"}
_PLAIN_NODE_KEYS = {"id", "type", "params"}


def _plain_edge(raw: Any) -> Edge | None:
    """The edge of a well-formed edge document, cheaply; ``None`` sends it the careful way."""
    if type(raw) is dict and raw.keys() <= _EDGE_KEYS:
        source, target, port = raw.get("source"), raw.get("target"), raw.get("port")
        if type(source) is str and type(target) is str and (port is None or type(port) is str):
            return Edge(source, target, port)
    return None


def _from_document(document: Any, where: str, name: str | None, registry: Registry) -> Workflow:
    loader = _Loader(registry)
    collecting = gc.isenabled()
    gc.disable()  # loading allocates a great many objects and frees none: collections would be pure cost
    try:
        workflow = loader.workflow(document, where, name)
    finally:
        if collecting:
            gc.enable()
    if workflow is None:
        raise WorkflowError(loader.problems)
    return workflow
