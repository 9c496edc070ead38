"""The ``dagmill`` command: exit codes, JSON on stdout, placed errors, plugins from entry points."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import chain, write_distribution

Cli = Callable[..., subprocess.CompletedProcess[str]]

EXAMPLE = {
    "name": "sums",
    "nodes": [
        {"id": "a", "type": "t.value", "params": {"value": 10}},
        {"id": "b", "type": "t.value", "params": {"value": 20}},
        {"id": "total", "type": "t.sum"},
    ],
    "edges": [{"source": "a", "target": "total"}, {"source": "b", "target": "total"}],
}


def test_run_json_prints_one_object_on_stdout(dagmill_cli: Cli, write_json: Callable[..., Path]) -> None:
    done = dagmill_cli("run", str(write_json(EXAMPLE)), "--json", "--scheduler", "ready")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded"
    assert result["outputs"] == {"total": 30}
    assert result["scheduler"] == "ready"
    assert set(result["nodes"]["total"]) >= {"status", "output", "error", "attempts", "level", "ready_at", "started_at", "ended_at"}
    assert {node: record["output"] for node, record in result["nodes"].items()} == {"a": 10, "b": 20, "total": 30}
    assert [level["width"] for level in result["levels"]] == [2, 1]
    assert "succeeded" in done.stderr and "total = 30" in done.stderr


def test_run_without_json_keeps_stdout_empty(dagmill_cli: Cli, write_json: Callable[..., Path]) -> None:
    done = dagmill_cli("run", str(write_json(EXAMPLE)))
    assert done.returncode == 0
    assert done.stdout == ""


def test_failed_run_exits_1_with_the_error(dagmill_cli: Cli, write_json: Callable[..., Path]) -> None:
    doc = {"nodes": [{"id": "x", "type": "t.fail", "params": {"message": "no luck"}}]}
    done = dagmill_cli("run", str(write_json(doc)), "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["nodes"]["x"]["error"] == "RuntimeError: no luck"
    assert "failed x after 1 attempt(s): RuntimeError: no luck" in done.stderr


def test_validate_lists_every_defect_one_per_line_and_exits_2(dagmill_cli: Cli, write_json: Callable[..., Path]) -> None:
    doc = {
        "nodes": [{"id": "a", "type": "t.valeu"}, {"id": "b", "type": "t.sleep", "params": {"seconds": "soon"}}],
        "edges": [{"source": "a", "target": "c"}],
    }
    done = dagmill_cli("validate", str(write_json(doc)))
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[0].startswith("nodes[0].type: unknown node type 't.valeu' (did you mean 't.value'?)")
    assert lines[1:] == ["nodes[1].params.seconds: expected a number, got 'soon'", "edges[0].target: unknown node 'c'"]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"nodes": [{"id": "a",}]}', ":1:23: invalid JSON: Expecting property name enclosed in double quotes"),
        ("[]", ": expected an object at the top level, got a list"),
    ],
)
def test_validate_malformed_documents(dagmill_cli: Cli, write_json: Callable[..., Path], text: str, message: str) -> None:
    path = write_json(text)
    done = dagmill_cli("validate", str(path))
    assert (done.returncode, done.stderr.strip()) == (2, f"{path}{message}")


def test_validate_cycle(dagmill_cli: Cli, write_json: Callable[..., Path]) -> None:
    doc = {
        "nodes": [{"id": "a", "type": "t.value"}, {"id": "b", "type": "t.sum"}],
        "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "a"}],
    }
    done = dagmill_cli("validate", str(write_json(doc)))
    assert (done.returncode, done.stderr.strip()) == (2, "cycle: a -> b -> a")


def test_validate_ok(dagmill_cli: Cli, write_json: Callable[..., Path]) -> None:
    done = dagmill_cli("validate", str(write_json(EXAMPLE)))
    assert done.returncode == 0
    assert done.stderr.strip().endswith("ok (3 nodes, 2 edges, 2 levels)")


def test_missing_file_and_bad_usage_exit_2(dagmill_cli: Cli, tmp_path: Path) -> None:
    done = dagmill_cli("run", "nope.json")
    assert (done.returncode, done.stderr.strip()) == (2, "nope.json: no such file")
    assert dagmill_cli("run", "x.json", "--max-concurrency", "lots").returncode == 2
    assert dagmill_cli("frobnicate").returncode == 2


def test_unknown_scheduler_is_a_usage_error(dagmill_cli: Cli, write_json: Callable[..., Path]) -> None:
    done = dagmill_cli("run", str(write_json(EXAMPLE)), "--scheduler", "fastest")
    assert done.returncode == 2
    assert "unknown scheduler 'fastest' (installed: level, ready, sequential" in done.stderr


def test_plan_shows_levels_widths_and_critical_path(dagmill_cli: Cli, write_json: Callable[..., Path]) -> None:
    doc = chain(4)
    doc["nodes"][2]["estimate"] = 5
    done = dagmill_cli("plan", str(write_json(doc)))
    assert done.returncode == 0
    assert "level 2 (width 1): n2" in done.stdout
    assert "critical path (estimated 8s): n0 -> n1 -> n2 -> n3" in done.stdout
    plan = json.loads(dagmill_cli("plan", str(write_json(doc)), "--format", "json").stdout)
    assert plan["widths"] == [1, 1, 1, 1] and plan["critical_length"] == 8


def test_plugins_lists_every_kind_with_its_distribution(dagmill_cli: Cli) -> None:
    listing = json.loads(dagmill_cli("plugins", "--json").stdout)
    assert listing["schedulers"]["level"]["distribution"].startswith("dagmill ")
    assert listing["schedulers"]["ready"]["experimental"] is True
    assert listing["executors"]["inline"]["distribution"].startswith("dagmill ")
    assert listing["node_types"]["t.sum"]["distribution"] == "dagmill-test-nodes 0.0.1"
    text = dagmill_cli("plugins").stdout
    assert "[experimental]" in text and "test-nodes" in text


THIRD_PARTY = '''
import dagmill


@dagmill.node_type("shout")
def shout(params, inputs, ctx):
    """Upper-case the joined inputs."""
    return " ".join(map(str, inputs)).upper()


class Reverse(dagmill.Scheduler):
    """Runs nodes in reverse document order among the ready ones (one at a time)."""

    name = "reverse"

    async def run(self, run):
        ready = list(run.graph.sources)
        while ready:
            ready.sort()
            ready += await run.execute(ready.pop())


@dagmill.hookimpl
def dagmill_node_types():
    return [shout]


@dagmill.hookimpl
def dagmill_schedulers():
    return [Reverse]
'''


def third_party_env(tmp_path: Path, plugin_env: dict[str, str], source: str, module: str) -> dict[str, str]:
    site = tmp_path / "third-party"
    site.mkdir()
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    write_distribution(site, f"{module.replace('_', '-')}", {module: module})
    return {"PYTHONPATH": os.pathsep.join([str(site), plugin_env["PYTHONPATH"]])}


def test_third_party_plugin_from_an_entry_point_adds_a_node_type_and_a_scheduler(
    dagmill_cli: Cli, write_json: Callable[..., Path], tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    env = third_party_env(tmp_path, plugin_env, THIRD_PARTY, "acme_nodes")
    listing = json.loads(dagmill_cli("plugins", "--json", env=env).stdout)
    assert listing["node_types"]["shout"]["distribution"] == "acme-nodes 0.0.1"
    assert listing["schedulers"]["reverse"]["distribution"] == "acme-nodes 0.0.1"
    doc = {
        "nodes": [{"id": x, "type": "t.value", "params": {"value": x}} for x in ("hello", "world")] + [{"id": "s", "type": "shout"}],
        "edges": [{"source": "hello", "target": "s"}, {"source": "world", "target": "s"}],
    }
    done = dagmill_cli("run", str(write_json(doc)), "--scheduler", "reverse", "--json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["outputs"] == {"s": "HELLO WORLD"}
    assert result["nodes"]["world"]["started_at"] < result["nodes"]["hello"]["started_at"]


def test_broken_plugin_is_reported_by_name_and_the_others_still_load(
    dagmill_cli: Cli, write_json: Callable[..., Path], tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    env = third_party_env(tmp_path, plugin_env, "import not_a_module_anywhere\n", "broken_plugin")
    listing = json.loads(dagmill_cli("plugins", "--json", env=env).stdout)
    assert listing["failures"] == [
        {
            "name": "broken_plugin",
            "distribution": "broken-plugin 0.0.1",
            "error": "ModuleNotFoundError: No module named 'not_a_module_anywhere'",
        }
    ]
    assert "t.sum" in listing["node_types"]
    done = dagmill_cli("run", str(write_json(EXAMPLE)), env=env)
    assert done.returncode == 0
    assert "warning: plugin 'broken_plugin' (from broken-plugin 0.0.1): ModuleNotFoundError" in done.stderr


COMMAND_PLUGIN = '''
import dagmill


def count(options):
    workflow = dagmill.load(options.file)
    print(len(workflow.nodes), "nodes")
    return 0 if workflow.nodes else 1


@dagmill.hookimpl
def dagmill_addcommand(commands):
    parser = commands.add_parser("count", help="count the nodes of a workflow")
    parser.add_argument("file")
    parser.set_defaults(handler=count)
'''


def test_plugins_add_subcommands(dagmill_cli: Cli, write_json: Callable[..., Path], tmp_path: Path, plugin_env: dict[str, str]) -> None:
    env = third_party_env(tmp_path, plugin_env, COMMAND_PLUGIN, "counting")
    done = dagmill_cli("count", str(write_json(EXAMPLE)), env=env)
    assert (done.returncode, done.stdout) == (0, "3 nodes\n")
    broken = dagmill_cli("count", str(write_json({"nodes": [{"id": 1}]})), env=env)
    assert broken.returncode == 2
    assert "nodes[0].id: expected a string, got 1" in broken.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_cancels_the_run_cleanly_and_exits_130(
    plugin_env: dict[str, str], write_json: Callable[..., Path], tmp_path: Path, signum: int
) -> None:
    marker = tmp_path / "started"
    doc = {
        "nodes": [
            {"id": "long", "type": "t.sleep", "params": {"seconds": 600, "marker": str(marker)}},
            {"id": "after", "type": "t.sum"},
        ],
        "edges": [{"source": "long", "target": "after"}],
    }
    command = [sys.executable, "-m", "dagmill", "run", str(write_json(doc)), "--json"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=plugin_env, cwd=tmp_path) as proc:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the node never started"
            time.sleep(0.02)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    result: dict[str, Any] = json.loads(out)
    assert result["status"] == "cancelled"
    assert result["error"] == f"interrupted by {signal.Signals(signum).name}"
    assert result["nodes"]["long"]["status"] == "cancelled"
    assert result["nodes"]["after"]["status"] == "cancelled"
    assert "Traceback" not in err




def test_ctrl_c_outside_a_run_exits_130_without_a_traceback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from dagmill import cli

    def interrupted(argv: object = None) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "main", interrupted)
    with pytest.raises(SystemExit) as exited:
        cli.entry_point()
    assert exited.value.code == 130
    assert capsys.readouterr().err == "dagmill: interrupted\n"
