"""Structured logs: -v / -vv / --log-level / --log-json, and the RunLog plugin in code."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import dagmill
import nodetypes
from dagmill.plugins.logs import RunLog

Cli = Callable[..., subprocess.CompletedProcess[str]]
DOC = {
    "name": "logged",
    "nodes": [{"id": "good", "type": "t.value", "params": {"value": 1}}, {"id": "bad", "type": "t.fail", "params": {"message": "nope"}}],
}


def test_quiet_by_default(dagmill_cli: Cli, write_json: Callable[..., Path]) -> None:
    done = dagmill_cli("run", str(write_json(DOC)), "--fail-policy", "continue")
    assert all(line.startswith(("dagmill:", "  ")) for line in done.stderr.splitlines())


def test_json_lines_per_run_and_node(dagmill_cli: Cli, write_json: Callable[..., Path]) -> None:
    done = dagmill_cli("run", str(write_json(DOC)), "--fail-policy", "continue", "--log-json", "--log-level", "debug", "--run-id", "r1")
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert [(r["logger"], r["message"]) for r in records] == [
        ("dagmill.run", "run started"),
        ("dagmill.node", "node failed"),
        ("dagmill.node", "node succeeded"),
        ("dagmill.run", "run ended"),
    ]
    assert all(r["run_id"] == "r1" for r in records)
    assert records[1]["error"] == "RuntimeError: nope" and records[1]["level"] == "WARNING"
    assert records[3]["counts"] == {"succeeded": 1, "failed": 1}


def test_one_v_logs_runs_and_failures_but_not_every_node(dagmill_cli: Cli, write_json: Callable[..., Path]) -> None:
    done = dagmill_cli("run", str(write_json(DOC)), "--fail-policy", "continue", "-v")
    logged = [line for line in done.stderr.splitlines() if " dagmill." in line]
    assert len(logged) == 3
    assert " WARNING dagmill.node node failed " in logged[1] and 'node="bad"' in logged[1]
    assert "succeeded" not in logged[1]


def test_run_log_plugin_in_code(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="dagmill"):
        dagmill.run(DOC, plugins=[nodetypes, RunLog()], fail_policy="continue", run_id="in-code")
    nodes = [r for r in caplog.records if r.name == "dagmill.node"]
    assert sorted((r.node, r.status) for r in nodes) == [("bad", "failed"), ("good", "succeeded")]  # type: ignore[attr-defined]
    assert {r.run_id for r in caplog.records} == {"in-code"}  # type: ignore[attr-defined]
