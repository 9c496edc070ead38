"""Installing dagmill-contrib-nodes adds its node types to ``dagmill plugins``; uninstalling removes them.

Done for real: pip installs into a throwaway virtualenv (from the package
index or pip's cache) — the way a user installs a plugin.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent


def node_types(venv: Path) -> dict[str, dict[str, str]]:
    done = subprocess.run([venv / "bin" / "dagmill", "plugins", "--json"], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(done.stdout)["node_types"]


def pip(venv: Path, *args: str) -> None:
    subprocess.run([venv / "bin" / "python", "-m", "pip", "-q", "--disable-pip-version-check", *args], check=True, timeout=600)


@pytest.mark.slow
def test_install_and_uninstall_change_the_plugin_listing(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
    pip(venv, "install", str(ROOT))
    assert "add" not in node_types(venv)
    pip(venv, "install", str(ROOT / "contrib_nodes"))
    installed = node_types(venv)
    assert installed["add"]["distribution"] == "dagmill-contrib-nodes 0.1.0"
    assert {"value", "http_get", "shell", "sleep", "template"} <= set(installed)
    pip(venv, "uninstall", "-y", "dagmill-contrib-nodes")
    assert not {"value", "add", "http_get"} & set(node_types(venv))
