"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

import dagmill
import nodetypes

TESTS = Path(__file__).parent


@pytest.fixture
def registry() -> dagmill.Registry:
    """The installed plugins plus the test node types (``t.*``)."""
    return dagmill.Registry.discover([nodetypes])


def write_distribution(site: Path, name: str, entry_points: Mapping[str, str]) -> None:
    """Make ``site`` hold an installed distribution ``name`` whose ``dagmill`` entry points are ``entry_points``."""
    info = site / f"{name.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n")
    lines = "\n".join(f"{key} = {value}" for key, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[dagmill]\n{lines}\n")


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a ``dagmill`` subprocess that also has the test node types installed as a distribution."""
    site = tmp_path / "site"
    write_distribution(site, "dagmill-test-nodes", {"test-nodes": "nodetypes"})
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(TESTS), env.get("PYTHONPATH", "")])
    env.pop("CI", None)
    return env


@pytest.fixture
def dagmill_cli(plugin_env: dict[str, str], tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the ``dagmill`` command in a subprocess (cwd ``tmp_path``) with the test node types installed."""
    executable = shutil.which("dagmill", path=str(Path(sys.executable).parent)) or "dagmill"

    def invoke(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [executable, *args],
            capture_output=True,
            text=True,
            env={**plugin_env, **(env or {})},
            cwd=tmp_path,
            timeout=timeout,
        )

    return invoke


@pytest.fixture
def write_json(tmp_path: Path) -> Callable[[Any, str], Path]:
    """Write a document as JSON into ``tmp_path`` and return its path."""
    import json

    def write(document: Any, name: str = "flow.json") -> Path:
        path = tmp_path / name
        path.write_text(document if isinstance(document, str) else json.dumps(document))
        return path

    return write


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_processes() -> set[int]:
    """The process ids of this process's children (from /proc)."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        found.update(int(pid) for pid in (task / "children").read_text().split())
    return found


def chain(n: int, type_name: str = "t.sum") -> dict[str, Any]:
    """A document: ``n`` nodes in a line, the first a ``t.value`` of 1."""
    nodes = [{"id": "n0", "type": "t.value", "params": {"value": 1}}]
    nodes += [{"id": f"n{i}", "type": type_name} for i in range(1, n)]
    edges = [{"source": f"n{i}", "target": f"n{i + 1}"} for i in range(n - 1)]
    return {"name": "chain", "nodes": nodes, "edges": edges}


