"""Loading and validation: every defect at once, each with its place, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dagmill
import nodetypes


def problems(document: Any, registry: dagmill.Registry) -> list[str]:
    with pytest.raises(dagmill.WorkflowError) as caught:
        dagmill.load(document, registry=registry)
    assert all(isinstance(p, dagmill.Problem) for p in caught.value.problems)
    return [str(p) for p in caught.value.problems]


def valid() -> dict[str, Any]:
    return {
        "name": "ok",
        "nodes": [
            {"id": "a", "type": "t.value", "params": {"value": 1}},
            {"id": "b", "type": "t.value", "params": {"value": 2}},
            {"id": "total", "type": "t.sum"},
        ],
        "edges": [{"source": "a", "target": "total"}, {"source": "b", "target": "total"}],
    }


def test_valid_document_loads_into_frozen_model(registry: dagmill.Registry) -> None:
    wf = dagmill.load(valid(), registry=registry)
    assert [n.id for n in wf.nodes] == ["a", "b", "total"]
    assert wf.nodes[0].params == nodetypes.ValueParams(value=1)
    assert wf.edges[1] == dagmill.Edge("b", "total")
    assert wf.graph.levels == ((0, 1), (2,))
    with pytest.raises(AttributeError):
        wf.nodes[0].id = "z"  # type: ignore[misc]


def test_error_is_a_dagmill_error_carrying_places_and_messages(registry: dagmill.Registry) -> None:
    doc = valid()
    doc["nodes"][2]["type"] = "t.smu"
    with pytest.raises(dagmill.DagmillError) as caught:
        dagmill.load(doc, registry=registry)
    (problem,) = caught.value.problems  # type: ignore[attr-defined]
    assert problem.place == "nodes[2].type"
    assert problem.message.startswith("unknown node type 't.smu' (did you mean 't.sum'?) (installed: ")
    assert "t.value" in problem.message


def test_every_defect_is_reported_at_once(registry: dagmill.Registry) -> None:
    doc = {
        "nmae": "x",
        "nodes": [
            {"id": "a", "type": "t.value", "params": {"value": 1}},
            {"id": "b", "type": "t.sleep", "params": {"seconds": "soon"}, "retrys": 2},
            {"type": "t.sum"},
            {"id": "a", "type": "t.sum"},
            {"id": "parse", "type": "t.sum"},
        ],
        "edges": [
            {"source": "a", "target": "prase"},
            {"source": "b", "target": "b"},
            {"source": "ghost", "target": "a"},
        ],
    }
    assert problems(doc, registry) == [
        "nmae: unknown field (did you mean 'name'?)",
        "nodes[1].params.seconds: expected a number, got 'soon'",
        "nodes[1].retrys: unknown field (did you mean 'retries'?)",
        "nodes[2].id: required",
        "nodes[3].id: duplicate id 'a' (first at nodes[0])",
        "edges[0].target: unknown node 'prase' (did you mean 'parse'?)",
        "edges[1]: self-loop on 'b'",
        "edges[2].source: unknown node 'ghost'",
    ]


def test_cycle_is_reported_as_its_path(registry: dagmill.Registry) -> None:
    doc = {
        "nodes": [{"id": x, "type": "t.sum"} for x in "abcd"],
        "edges": [
            {"source": "a", "target": "b"},
            {"source": "b", "target": "c"},
            {"source": "c", "target": "b"},
            {"source": "c", "target": "d"},
        ],
    }
    assert problems(doc, registry) == ["cycle: b -> c -> b"]


def test_two_disjoint_cycles_are_both_reported(registry: dagmill.Registry) -> None:
    doc = {
        "nodes": [{"id": x, "type": "t.sum"} for x in "abxyz"],
        "edges": [
            {"source": "a", "target": "b"},
            {"source": "b", "target": "a"},
            {"source": "x", "target": "y"},
            {"source": "y", "target": "z"},
            {"source": "z", "target": "x"},
        ],
    }
    assert problems(doc, registry) == ["cycle: a -> b -> a", "cycle: x -> y -> z -> x"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"seconds": True}, "nodes[0].params.seconds: expected a number, got true"),
        ({"seconds": -1}, "nodes[0].params.seconds: must be >= 0, got -1.0"),
        ({"seconds": None}, "nodes[0].params.seconds: expected a number, got null"),
        ({"secs": 1}, "nodes[0].params.secs: unknown field (did you mean 'seconds'?)"),
        ([1], "nodes[0].params: expected an object, got a list"),
    ],
)
def test_param_errors_name_the_param(registry: dagmill.Registry, params: Any, expected: str) -> None:
    doc = {"nodes": [{"id": "s", "type": "t.sleep", "params": params}]}
    assert problems(doc, registry) == [expected]


def test_required_param_is_reported(registry: dagmill.Registry) -> None:
    import attrs

    @attrs.frozen
    class UrlParams:
        url: str

    fetch = dagmill.node_type("t.fetch", params=UrlParams)(lambda p, i, c: p.url)

    class Plugin:
        @dagmill.hookimpl
        def dagmill_node_types(self) -> list[dagmill.NodeType]:
            return [fetch]

    doc = {"nodes": [{"id": "x", "type": "t.value"}, {"id": "f", "type": "t.fetch", "params": {}}]}
    assert problems(doc, registry.with_plugins([Plugin()])) == ["nodes[1].params.url: required"]


def test_type_without_params_refuses_params(registry: dagmill.Registry) -> None:
    doc = {"nodes": [{"id": "s", "type": "t.sum", "params": {"x": 1}}]}
    assert problems(doc, registry) == ["nodes[0].params: node type 't.sum' takes no params"]


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"id": 3, "type": "t.sum"}, "nodes[0].id: expected a string, got 3"),
        ({"id": "", "type": "t.sum"}, "nodes[0].id: must not be empty"),
        ({"id": "x"}, "nodes[0].type: required"),
        ({"id": "x", "type": "t.sum", "retries": -1}, "nodes[0].retries: must be >= 0, got -1"),
        ({"id": "x", "type": "t.sum", "timeout": 0}, "nodes[0].timeout: must be > 0, got 0.0"),
        ({"id": "x", "type": "t.sum", "executor": "inlin"}, "nodes[0].executor: unknown executor 'inlin' (did you mean 'inline'?) (installed: "),
        ("x", "nodes[0]: expected an object, got 'x'"),
    ],
)
def test_node_field_errors(registry: dagmill.Registry, node: Any, expected: str) -> None:
    (problem,) = problems({"nodes": [node]}, registry)
    assert problem.startswith(expected)


def test_top_level_shapes(registry: dagmill.Registry) -> None:
    assert problems([1, 2], registry) == ["document: expected an object at the top level, got a list"]
    assert problems({}, registry) == ["nodes: required"]
    assert problems({"nodes": {}, "edges": 3}, registry) == [
        "nodes: expected a list, got an object",
        "edges: expected a list, got 3",
    ]
    assert problems({"nodes": [], "defaults": {"retries": "2"}}, registry) == [
        "defaults.retries: expected an integer, got '2'"
    ]


def test_ports_must_be_all_or_none_and_distinct(registry: dagmill.Registry) -> None:
    doc = {
        "nodes": [{"id": x, "type": "t.value"} for x in "abc"] + [{"id": "m", "type": "t.echo"}],
        "edges": [
            {"source": "a", "target": "m", "port": "left"},
            {"source": "b", "target": "m"},
            {"source": "c", "target": "m", "port": "left"},
        ],
    }
    assert problems(doc, registry) == [
        "edges[1].port: edges into 'm' must all name a port or none (edges[0] names a port)",
        "edges[2].port: port 'left' of 'm' is already fed by edges[0]",
    ]


def test_duplicate_edge(registry: dagmill.Registry) -> None:
    doc = {
        "nodes": [{"id": "a", "type": "t.value"}, {"id": "b", "type": "t.sum"}],
        "edges": [{"source": "a", "target": "b"}, {"source": "a", "target": "b"}],
    }
    assert problems(doc, registry) == ["edges[1]: duplicate of edges[0] ('a' -> 'b')"]


def test_resource_requests_are_checked_against_pools(registry: dagmill.Registry) -> None:
    doc = {
        "resources": {"http": 2, "gpu": 0},
        "nodes": [
            {"id": "a", "type": "t.value", "resources": {"http": 3}},
            {"id": "b", "type": "t.value", "resources": {"htp": 1}},
        ],
    }
    assert problems(doc, registry) == [
        "resources.gpu: expected a positive integer, got 0",
        "nodes[0].resources.http: must be between 1 and the pool's capacity 2, got 3",
        "nodes[1].resources.htp: unknown resource pool (did you mean 'http'?) (declared: http)",
    ]


def test_untyped_node_without_a_claiming_plugin(registry: dagmill.Registry) -> None:
    doc = {"nodes": [{"id": "1", "data": {"zzz": 10}}]}
    assert problems(doc, registry) == [
        "nodes[0].data: no installed plugin recognizes this payload; give the node a 'type'"
    ]


def test_untyped_node_claimed_through_the_infer_hook(registry: dagmill.Registry) -> None:
    class Seeds:
        @dagmill.hookimpl
        def dagmill_infer_node_type(self, node: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
            data = node["data"]
            return ("t.value", {"value": data["value"]}) if "value" in data else None

    wf = dagmill.load({"nodes": [{"id": "1", "data": {"value": 10}}]}, registry=registry.with_plugins([Seeds()]))
    assert wf.nodes[0].type == "t.value"
    assert wf.nodes[0].params.value == 10


def test_a_failing_infer_plugin_is_a_placed_problem(registry: dagmill.Registry) -> None:
    class Broken:
        @dagmill.hookimpl
        def dagmill_infer_node_type(self, node: dict[str, Any]) -> None:
            raise TypeError("unhashable type: 'list'")

    doc = {"nodes": [{"id": "1", "data": {"op": ["add"]}}, {"id": "2", "type": "t.noop", "zzz": 1}]}
    assert problems(doc, registry.with_plugins([Broken()])) == [
        "nodes[0].data: a plugin failed on this payload (TypeError: unhashable type: 'list')",
        "nodes[1].zzz: unknown field",
    ]


def nested(depth: int) -> Any:
    value: Any = 1
    for k in range(depth):
        value = [value] if k % 2 else {"x": value}
    return value


def test_params_nested_too_deep_are_refused_before_anything_walks_them(registry: dagmill.Registry) -> None:
    limit = dagmill.load.__globals__["MAX_PARAM_DEPTH"]
    ok = {"nodes": [{"id": "a", "type": "t.value", "params": {"value": nested(limit)}}]}
    assert dagmill.load(ok, registry=registry).nodes[0].params.value == nested(limit)
    deep = {"nodes": [{"id": "a", "type": "t.value", "params": {"value": nested(limit + 1)}}]}
    assert problems(deep, registry) == [f"nodes[0].params.value: nested deeper than {limit} levels"]


def test_keys_that_are_not_strings_are_unknown_fields(registry: dagmill.Registry) -> None:
    doc = {"nodes": [{"id": "a", "type": "t.value", "params": {"value": 1}, 2: 3}], "edges": [{1: 2}]}
    assert problems(doc, registry) == [
        "nodes[0].2: unknown field",
        "edges[0].source: required",
        "edges[0].target: required",
        "edges[0].1: unknown field",
    ]


# -- files ------------------------------------------------------------------------


def test_file_errors(tmp_path: Path, registry: dagmill.Registry) -> None:
    missing = tmp_path / "nope.json"
    assert problems(missing, registry) == [f"{missing}: no such file"]
    assert problems(tmp_path, registry) == [f"{tmp_path}: is a directory, not a workflow file"]
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"name": "caf\xe9"}')
    assert problems(latin, registry) == [f"{latin}: not valid UTF-8 (byte 0xe9 at offset 13, line 1)"]


def test_malformed_json_has_line_and_column(tmp_path: Path, registry: dagmill.Registry) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "nodes": [\n    {"id": "a",}\n  ]\n}\n')
    assert problems(path, registry) == [f"{path}:3:16: invalid JSON: Expecting property name enclosed in double quotes"]


def test_nesting_deeper_than_the_parser_can_go_is_a_placed_problem(tmp_path: Path, registry: dagmill.Registry) -> None:
    toml, json_file = tmp_path / "deep.toml", tmp_path / "deep.json"
    toml.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    json_file.write_text("[" * 100_000 + "]" * 100_000)
    assert problems(toml, registry) == [f"{toml}: invalid TOML: nested too deeply"]
    assert problems(json_file, registry) == [f"{json_file}: invalid JSON: nested too deeply"]


def test_malformed_toml_has_line_and_column(tmp_path: Path, registry: dagmill.Registry) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\n[[nodes]]\nid = \n')
    (problem,) = problems(path, registry)
    assert problem.startswith(f"{path}:3:6: invalid TOML: ")


def test_toml_document_loads_the_same_model(tmp_path: Path, registry: dagmill.Registry) -> None:
    path = tmp_path / "flow.toml"
    path.write_text(
        'name = "ok"\n'
        '[[nodes]]\nid = "a"\ntype = "t.value"\nparams = {value = 1}\n'
        '[[nodes]]\nid = "b"\ntype = "t.value"\nparams = {value = 2}\n'
        '[[nodes]]\nid = "total"\ntype = "t.sum"\n'
        '[[edges]]\nsource = "a"\ntarget = "total"\n'
        '[[edges]]\nsource = "b"\ntarget = "total"\n'
    )
    assert dagmill.load(path, registry=registry) == dagmill.load(valid(), registry=registry)


def test_file_name_is_the_default_workflow_name(tmp_path: Path, registry: dagmill.Registry) -> None:
    doc = valid()
    del doc["name"]
    path = tmp_path / "nightly.json"
    path.write_text(json.dumps(doc))
    assert dagmill.load(path, registry=registry).name == "nightly"


def test_loads_parses_text(registry: dagmill.Registry) -> None:
    assert dagmill.loads(json.dumps(valid()), registry=registry).name == "ok"
    with pytest.raises(dagmill.WorkflowError, match=r"document:1:2: invalid JSON"):
        dagmill.loads("{,", registry=registry)


# -- the builder ----------------------------------------------------------------------


def test_builder_builds_the_same_workflow_as_the_document(registry: dagmill.Registry) -> None:
    built = (
        dagmill.WorkflowBuilder("ok")
        .node("a", "t.value", params={"value": 1})
        .node("b", "t.value", params=nodetypes.ValueParams(value=2))
        .node("total", "t.sum", after=["a", "b"])
        .build(registry=registry)
    )
    assert built == dagmill.load(valid(), registry=registry)


def test_builder_reports_defects_like_the_loader(registry: dagmill.Registry) -> None:
    builder = dagmill.WorkflowBuilder().node("a", "t.sleep", params={"seconds": "x"}).edge("a", "zz")
    with pytest.raises(dagmill.WorkflowError) as caught:
        builder.build(registry=registry)
    assert [str(p) for p in caught.value.problems] == [
        "nodes[0].params.seconds: expected a number, got 'x'",
        "edges[0].target: unknown node 'zz'",
    ]
    with pytest.raises(TypeError, match="unknown setting"):
        builder.node("b", "t.sum", retry=3)


# -- fuzzing -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    document = json.loads(json.dumps(valid()))
    for _ in range(draw(st.integers(1, 4))):
        containers: list[Any] = []
        stack = [document]
        while stack:
            item = stack.pop()
            if isinstance(item, (dict, list)):
                containers.append(item)
                stack.extend(item.values() if isinstance(item, dict) else item)
        if not containers:
            break
        target = draw(st.sampled_from(containers))
        if isinstance(target, dict):
            keys = sorted(target) + ["id", "type", "params", "source", "target", "port", "nodes", "edges", "zzz"]
            key = draw(st.sampled_from(keys))
            if draw(st.booleans()) and key in target:
                del target[key]
            else:
                target[key] = draw(json_values | st.sampled_from(["a", "b", "total", "t.sum", "t.sleep"]))
        elif target and draw(st.booleans()):
            del target[draw(st.integers(0, len(target) - 1))]
        else:
            target.append(draw(json_values))
    return document


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=mutated_documents())
def test_load_accepts_nothing_but_a_workflow_or_a_workflow_error(document: Any, registry: dagmill.Registry) -> None:
    try:
        workflow = dagmill.load(document, registry=registry)
    except dagmill.WorkflowError as exc:
        assert exc.problems
        assert all(p.place and p.message for p in exc.problems)
    else:
        assert isinstance(workflow, dagmill.Workflow)
        assert len(workflow.graph) == len(workflow.nodes)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=60))
def test_load_of_arbitrary_text_never_raises_anything_else(text: str) -> None:
    try:
        dagmill.loads(text, registry=dagmill.Registry.discover([nodetypes]))
    except dagmill.WorkflowError as exc:
        assert exc.problems
