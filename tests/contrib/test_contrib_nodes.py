"""The everyday node types: outputs, errors, params validation, the seeds' payload form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

import dagmill

EXAMPLES = Path(__file__).parent.parent.parent / "examples"


async def run(document: dict[str, Any], **options: Any) -> dagmill.RunResult:
    return await dagmill.arun(document, **options)


def fold(op: str, values: list[Any], **node: Any) -> dict[str, Any]:
    nodes = [{"id": f"v{k}", "type": "value", "params": {"value": v}} for k, v in enumerate(values)]
    nodes.append({"id": "op", "type": op, **node})
    return {"nodes": nodes, "edges": [{"source": f"v{k}", "target": "op"} for k in range(len(values))]}


def problems(document: dict[str, Any]) -> list[str]:
    with pytest.raises(dagmill.WorkflowError) as caught:
        dagmill.load(document)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("op", "values", "expected"),
    [
        ("add", [10, 20, 30], 60),
        ("subtract", [100, 30, 20], 50),
        ("multiply", [2, 3, 4], 24),
        ("divide", [120, 2, 3], 20),
        ("min", [5, -2, 9], -2),
        ("max", [5, -2, 9], 9),
        ("add", [1.5], 1.5),
    ],
)
async def test_arithmetic_folds_over_every_input_in_edge_order(op: str, values: list[Any], expected: Any) -> None:
    assert (await run(fold(op, values))).outputs == {"op": expected}


@pytest.mark.parametrize(
    ("op", "values", "error"),
    [
        ("divide", [1, 2, 0], "ZeroDivisionError: divide: division of 0.5 by zero"),
        ("add", [1, "two"], "TypeError: add: input 2 is 'two', not a number"),
        ("max", [True, 2], "TypeError: max: input 1 is True, not a number"),
        ("add", [], "ValueError: add needs at least one input"),
    ],
)
async def test_arithmetic_errors_are_clear_node_failures(op: str, values: list[Any], error: str) -> None:
    result = await run(fold(op, values))
    assert result.nodes["op"].status is dagmill.Status.FAILED
    assert result.nodes["op"].error == error


@pytest.mark.parametrize(("example", "expected"), [("seed_example1.json", {"merge": 60}), ("seed_example2.json", {"merge": 200})])
@pytest.mark.parametrize("scheduler", ["sequential", "level", "ready"])
async def test_seed_examples_run_unchanged(example: str, expected: dict[str, int], scheduler: str) -> None:
    result = await run(dagmill.load(EXAMPLES / example), scheduler=scheduler)
    assert result.outputs == expected


def test_seed_payloads_are_inferred() -> None:
    wf = dagmill.load(
        {"nodes": [{"id": "v", "data": {"value": 1}}, {"id": "o", "data": {"op": "max"}}, {"id": "t", "data": {"text": "hi"}}]}
    )
    assert [(n.type, n.params) for n in wf.nodes][1:] == [("max", None), ("text", wf.nodes[2].params)]
    assert wf.nodes[2].params.text == "hi"
    for op in ("pow", ["add"], {"add": 1}):
        assert problems({"nodes": [{"id": "o", "data": {"op": op}}]}) == [
            "nodes[0].data: no installed plugin recognizes this payload; give the node a 'type'"
        ]


async def test_text_nodes() -> None:
    doc = {
        "nodes": [
            {"id": "a", "type": "text", "params": {"text": "Hello"}},
            {"id": "b", "type": "value", "params": {"value": 42}},
            {"id": "joined", "type": "concat", "params": {"separator": ", "}},
            {"id": "up", "type": "upper"},
            {"id": "down", "type": "lower", "params": {"text": "QUIET"}},
            {"id": "card", "type": "template", "params": {"template": "$greeting, the answer is ${answer} ($$5)"}},
        ],
        "edges": [
            {"source": "a", "target": "joined"},
            {"source": "b", "target": "joined"},
            {"source": "joined", "target": "up"},
            {"source": "a", "target": "card", "port": "greeting"},
            {"source": "b", "target": "card", "port": "answer"},
        ],
    }
    result = await run(doc)
    assert result.outputs == {"up": "HELLO, 42", "down": "quiet", "card": "Hello, the answer is 42 ($5)"}


async def test_template_uses_unnamed_inputs_and_run_variables_and_names_what_is_missing() -> None:
    doc = {
        "nodes": [
            {"id": "who", "type": "set_var", "params": {"name": "who", "value": "world"}},
            {"id": "x", "type": "value", "params": {"value": 1}},
            {"id": "t", "type": "template", "params": {"template": "$in0 $who"}},
            {"id": "bad", "type": "template", "params": {"template": "$nobody"}},
        ],
        "edges": [{"source": "who", "target": "t"}, {"source": "x", "target": "t"}],
    }
    result = await run(doc, scheduler="sequential", fail_policy="continue")
    assert result.outputs["t"] == "world world"
    assert result.nodes["bad"].error == "KeyError: \"template: no input or variable named 'nobody'\""


async def test_json_nodes() -> None:
    doc = {
        "nodes": [
            {"id": "raw", "type": "text", "params": {"text": '{"items": [{"price": 3}, {"price": 4}], "ok": true}'}},
            {"id": "parsed", "type": "json_parse"},
            {"id": "price", "type": "json_get", "params": {"path": "items[1].price"}},
            {"id": "missing", "type": "json_get", "params": {"path": "items[5]"}},
            {"id": "bad", "type": "json_parse"},
            {"id": "junk", "type": "text", "params": {"text": "{nope"}},
        ],
        "edges": [
            {"source": "raw", "target": "parsed"},
            {"source": "parsed", "target": "price"},
            {"source": "parsed", "target": "missing"},
            {"source": "junk", "target": "bad"},
        ],
    }
    result = await run(doc, fail_policy="continue")
    assert result.nodes["price"].output == 4
    assert result.nodes["missing"].error == "LookupError: json_get: items has no index 5"
    assert result.nodes["bad"].error == "ValueError: json_parse: invalid JSON at line 1, column 2: Expecting property name enclosed in double quotes"


async def test_select_picks_a_port_or_a_position() -> None:
    doc = {
        "nodes": [
            {"id": "a", "type": "value", "params": {"value": "A"}},
            {"id": "b", "type": "value", "params": {"value": "B"}},
            {"id": "by_port", "type": "select", "params": {"port": "right"}},
            {"id": "by_position", "type": "select", "params": {"port": "1"}},
        ],
        "edges": [
            {"source": "a", "target": "by_port", "port": "left"},
            {"source": "b", "target": "by_port", "port": "right"},
            {"source": "a", "target": "by_position"},
            {"source": "b", "target": "by_position"},
        ],
    }
    assert (await run(doc)).outputs == {"by_port": "B", "by_position": "B"}


async def test_state_is_run_scoped_and_safe_under_concurrency(autojump_clock: trio.testing.MockClock) -> None:
    nodes: list[dict[str, Any]] = [{"id": f"tick{k:02d}", "type": "counter", "params": {"name": "ticks"}} for k in range(40)]
    nodes += [{"id": f"add{k:02d}", "type": "accumulate", "params": {"name": "seen"}} for k in range(10)]
    nodes += [{"id": f"v{k:02d}", "type": "value", "params": {"value": k}} for k in range(10)]
    nodes += [{"id": "total", "type": "get_var", "params": {"name": "ticks"}}, {"id": "list", "type": "get_var", "params": {"name": "seen"}}]
    edges = [{"source": f"v{k:02d}", "target": f"add{k:02d}"} for k in range(10)]
    edges += [{"source": f"tick{k:02d}", "target": "total"} for k in range(40)]
    edges += [{"source": f"add{k:02d}", "target": "list"} for k in range(10)]
    for _ in range(2):
        result = await run({"nodes": nodes, "edges": edges}, scheduler="ready", max_concurrency=8)
        assert result.outputs["total"] == 40
        assert sorted(result.outputs["list"]) == list(range(10))


async def test_set_var_needs_a_value_or_one_input() -> None:
    result = await run({"nodes": [{"id": "s", "type": "set_var", "params": {"name": "x"}}]})
    assert result.nodes["s"].error == "ValueError: set_var 'x': give params.value or exactly one input, got 0 inputs"


async def test_sleep_passes_its_input_through_and_is_cancellable(autojump_clock: trio.testing.MockClock) -> None:
    doc = {
        "nodes": [
            {"id": "v", "type": "value", "params": {"value": 7}},
            {"id": "nap", "type": "sleep", "params": {"seconds": 3}},
            {"id": "long", "type": "sleep", "params": {"seconds": 100}},
        ],
        "edges": [{"source": "v", "target": "nap"}],
    }
    result = await run(doc, timeout=10, scheduler="ready")
    assert result.nodes["nap"].output == 7 and result.nodes["nap"].duration == pytest.approx(3)
    assert result.nodes["long"].status is dagmill.Status.CANCELLED


async def test_fail_and_flaky(autojump_clock: trio.testing.MockClock) -> None:
    doc = {
        "nodes": [
            {"id": "f", "type": "fail", "params": {"message": "bad day"}},
            {"id": "k", "type": "flaky", "params": {"failures": 2, "value": "finally"}, "retries": 2},
        ]
    }
    result = await run(doc, fail_policy="continue")
    assert result.nodes["f"].error == "RuntimeError: bad day"
    assert (result.nodes["k"].output, result.nodes["k"].attempts) == ("finally", 3)


async def test_python_calls_user_functions_sync_and_async() -> None:
    doc = {
        "nodes": [
            {"id": "a", "type": "value", "params": {"value": 2}},
            {"id": "b", "type": "value", "params": {"value": 3}},
            {"id": "scaled", "type": "python", "params": {"function": "contrib_helpers:scale", "kwargs": {"factor": 10}}},
            {"id": "t", "type": "text", "params": {"text": "hey"}},
            {"id": "loud", "type": "python", "params": {"function": "contrib_helpers:shout"}},
            {"id": "boom", "type": "python", "params": {"function": "contrib_helpers:explode"}},
        ],
        "edges": [
            {"source": "a", "target": "scaled"},
            {"source": "b", "target": "scaled"},
            {"source": "t", "target": "loud", "port": "text"},
        ],
    }
    result = await run(doc, fail_policy="continue")
    assert result.outputs == {"scaled": [20, 30], "loud": "HEY!"}
    assert result.nodes["boom"].error == "ValueError: user code failed"


def test_params_are_checked_when_the_workflow_loads() -> None:
    doc = {
        "nodes": [
            {"id": "s", "type": "sleep", "params": {"seconds": "soon"}},
            {"id": "t", "type": "template", "params": {"template": "costs $5"}},
            {"id": "g", "type": "json_get", "params": {"path": "a..b"}},
            {"id": "p", "type": "python", "params": {"function": "no_such_module_here:f"}},
            {"id": "q", "type": "python", "params": {"function": "contrib_helpers"}},
            {"id": "h", "type": "http_get", "params": {"url": "ftp://example"}},
            {"id": "h2", "type": "http_get", "params": {"url": "http://127.0.0.1/", "expect": "xml"}},
            {"id": "x", "type": "shell", "params": {"argv": "ls -l"}},
            {"id": "y", "type": "shell", "params": {"argv": []}},
            {"id": "c", "type": "counter", "params": {}},
            {"id": "a", "type": "add", "params": {"x": 1}},
        ]
    }
    found = problems(doc)
    assert found[0] == "nodes[0].params.seconds: expected a number, got 'soon'"
    assert found[1].startswith("nodes[1].params.template: must be a valid $-template (use $$ for a literal $)")
    assert found[2] == "nodes[2].params.path: must look like a.b[0].c, got 'a..b' (stuck at character 2)"
    assert found[3] == "nodes[3].params.function: cannot import 'no_such_module_here': No module named 'no_such_module_here'"
    assert found[4] == "nodes[4].params.function: must look like 'module:function', got 'contrib_helpers'"
    assert found[5] == "nodes[5].params.url: must be an http:// or https:// URL, got 'ftp://example'"
    assert found[6].startswith("nodes[6].params.expect: ")
    assert found[7] == "nodes[7].params.argv: expected a list, got 'ls -l'"
    assert found[8] == "nodes[8].params.argv: must name a program: an empty list"
    assert found[9] == "nodes[9].params.name: required"
    assert found[10] == "nodes[10].params: node type 'add' takes no params"
    assert len(found) == 11


def test_every_type_is_documented_in_docs_nodes_md() -> None:
    from dagmill_contrib_nodes.docs import render

    assert (EXAMPLES.parent / "docs" / "nodes.md").read_text() == render(), "run: python -m dagmill_contrib_nodes.docs > docs/nodes.md"


def test_results_serialize() -> None:
    assert json.loads(dagmill.run(dagmill.load(EXAMPLES / "seed_example1.json")).to_json())["outputs"] == {"merge": 60}


@pytest.mark.parametrize(
    ("node_type", "params", "expected"),
    [
        ("text", {}, "nodes[0].params.text: required"),
        ("text", {"text": 3}, "nodes[0].params.text: expected a string, got 3"),
        ("concat", {"separator": None}, "nodes[0].params.separator: expected a string, got null"),
        ("upper", {"text": ["a"]}, "nodes[0].params.text: expected a string, got a list"),
        ("lower", {"txt": "a"}, "nodes[0].params.txt: unknown field (did you mean 'text'?)"),
        ("template", {}, "nodes[0].params.template: required"),
        ("json_get", {}, "nodes[0].params.path: required"),
        ("select", {}, "nodes[0].params.port: required"),
        ("set_var", {"value": 1}, "nodes[0].params.name: required"),
        ("get_var", {"name": 1}, "nodes[0].params.name: expected a string, got 1"),
        ("counter", {"name": "c", "step": 1.5}, "nodes[0].params.step: expected an integer, got 1.5"),
        ("accumulate", {}, "nodes[0].params.name: required"),
        ("http_post", {"url": "127.0.0.1"}, "nodes[0].params.url: must be an http:// or https:// URL, got '127.0.0.1'"),
        ("http_get", {"url": "http://127.0.0.1/", "timeout": 0}, "nodes[0].params.timeout: must be > 0, got 0.0"),
        ("http_get", {"url": "http://127.0.0.1/", "headers": {"x": 1}}, "nodes[0].params.headers['x']: expected a string, got 1"),
        ("read_file", {"path": "a", "parse": "yaml"}, "nodes[0].params.parse: "),
        ("write_file", {"path": " "}, "nodes[0].params.path: must name a file: ' '"),
        ("python", {"function": "contrib_helpers:scale", "kwargs": []}, "nodes[0].params.kwargs: expected an object, got a list"),
        ("sleep", {}, "nodes[0].params.seconds: required"),
        ("sleep", {"seconds": -1}, "nodes[0].params.seconds: must be >= 0, got -1.0"),
        ("fail", {"message": False}, "nodes[0].params.message: expected a string, got false"),
        ("flaky", {"failures": -2}, "nodes[0].params.failures: must be >= 0, got -2"),
        ("value", {"value": 1, "values": 2}, "nodes[0].params.values: unknown field (did you mean 'value'?)"),
        ("multiply", {"factor": 2}, "nodes[0].params: node type 'multiply' takes no params"),
        ("json_parse", {"strict": True}, "nodes[0].params: node type 'json_parse' takes no params"),
    ],
)
def test_each_type_refuses_bad_params_with_a_placed_error(node_type: str, params: dict[str, Any], expected: str) -> None:
    (problem,) = problems({"nodes": [{"id": "n", "type": node_type, "params": params}]})
    assert problem.startswith(expected)
