"""Helpers of the durability tests that run ``dagmill`` in a subprocess with the ``d.*`` node types installed."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import write_distribution

HERE = Path(__file__).parent
DAGMILL = shutil.which("dagmill", path=str(Path(sys.executable).parent)) or "dagmill"
DEADLINE = 60.0


@pytest.fixture
def durability_env(plugin_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """``plugin_env`` plus the ``d.*`` node types installed as a distribution; executions recorded in ``tmp_path/effects``."""
    site = tmp_path / "durability-site"
    write_distribution(site, "dagmill-durability-nodes", {"durability-nodes": "journal_nodes"})
    path = os.pathsep.join([str(site), str(HERE), plugin_env["PYTHONPATH"]])
    return {**plugin_env, "PYTHONPATH": path, "JOURNAL_EFFECTS": str(tmp_path / "effects")}


def start(args: list[str], env: dict[str, str], cwd: Path, preexec: Callable[[], None] | None = None) -> subprocess.Popen[str]:
    """Start ``dagmill ARGS`` (stdout and stderr piped)."""
    return subprocess.Popen(
        [DAGMILL, *args], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec
    )


def finish(args: list[str], env: dict[str, str], cwd: Path, preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``dagmill ARGS`` to its end."""
    return subprocess.run(
        [DAGMILL, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=DEADLINE, preexec_fn=preexec
    )


def rows(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows ``sql`` finds in the journal at ``path``."""
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchall()


def integrity(path: Path) -> str:
    """``ok``, or what ``PRAGMA integrity_check`` found."""
    return rows(path, "PRAGMA integrity_check")[0][0]


def events(path: Path, run_id: str) -> dict[str, list[str]]:
    """Per node, the statuses the journal recorded for it in ``run_id``, in order."""
    found: dict[str, list[str]] = {}
    sql = "SELECT node_id, status FROM events WHERE run = (SELECT id FROM runs WHERE run_id = ?) ORDER BY id"
    for node_id, status in rows(path, sql, run_id):
        found.setdefault(node_id, []).append(status)
    return found
