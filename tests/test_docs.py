"""The plugin-author docs cannot rot: their example is the file the suite installs and runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from conftest import write_distribution

DOCS = Path(__file__).parent.parent / "docs"
Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_plugins_doc_shows_the_example_scheduler_verbatim() -> None:
    source = (DOCS / "examples" / "depth_first.py").read_text()
    assert len(source.splitlines()) < 40
    assert f"```python\n{source}```" in (DOCS / "plugins.md").read_text()


def test_example_scheduler_installs_through_an_entry_point_and_runs(
    dagmill_cli: Cli, write_json: Callable[..., Path], tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    site = tmp_path / "scheduler-site"
    site.mkdir()
    shutil.copy(DOCS / "examples" / "depth_first.py", site / "depth_first.py")
    write_distribution(site, "depth-first-scheduler", {"depth_first": "depth_first"})
    env = {"PYTHONPATH": os.pathsep.join([str(site), plugin_env["PYTHONPATH"]])}
    listing = json.loads(dagmill_cli("plugins", "--json", env=env).stdout)
    assert listing["schedulers"]["depth-first"]["distribution"] == "depth-first-scheduler 0.0.1"
    doc = {
        "nodes": [{"id": "root", "type": "t.value", "params": {"value": 1}}]
        + [{"id": f"{branch}{k}", "type": "t.sum"} for branch in "ab" for k in range(3)],
        "edges": [{"source": "root", "target": "a0"}, {"source": "root", "target": "b0"}]
        + [{"source": f"{branch}{k}", "target": f"{branch}{k + 1}"} for branch in "ab" for k in range(2)],
    }
    done = dagmill_cli("run", str(write_json(doc)), "--scheduler", "depth-first", "--max-concurrency", "1", "--json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["outputs"] == {"a2": 1, "b2": 1}
    order = sorted(result["nodes"], key=lambda node: result["nodes"][node]["started_at"])
    assert order == ["root", "a0", "a1", "a2", "b0", "b1", "b2"]


def test_cli_reference_documents_every_option_of_every_command() -> None:
    import argparse

    import dagmill
    from dagmill.cli import build_parser

    parser = build_parser(dagmill.Registry.discover())
    reference = (DOCS / "cli.md").read_text()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = []
    for name in ("run", "validate", "plan", "plugins", "config"):
        assert f"## dagmill {name}" in reference
        for action in commands.choices[name]._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help") and f"`{flag}" not in reference:
                    missing.append(f"{name} {flag}")
    assert not missing, f"undocumented in docs/cli.md: {missing}"


def test_plugins_doc_shows_the_example_package_verbatim() -> None:
    package = DOCS / "examples" / "acme_nodes"
    text = (DOCS / "plugins.md").read_text()
    assert f"```toml\n{(package / 'pyproject.toml').read_text()}```" in text
    assert f"```python\n{(package / 'acme_nodes' / '__init__.py').read_text()}```" in text


def test_example_node_type_package_installs_through_its_entry_point_and_runs(
    dagmill_cli: Cli, write_json: Callable[..., Path], tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    import tomllib

    package = DOCS / "examples" / "acme_nodes"
    entry_points = tomllib.loads((package / "pyproject.toml").read_text())["project"]["entry-points"]["dagmill"]
    site = tmp_path / "acme-site"
    shutil.copytree(package / "acme_nodes", site / "acme_nodes")
    write_distribution(site, "acme-nodes", entry_points)
    env = {"PYTHONPATH": os.pathsep.join([str(site), plugin_env["PYTHONPATH"]])}
    listing = json.loads(dagmill_cli("plugins", "--json", env=env).stdout)
    assert listing["node_types"]["acme.words"]["distribution"] == "acme-nodes 0.0.1"
    doc = {
        "nodes": [
            {"id": "text", "type": "t.value", "params": {"value": "a tiny example of words"}},
            {"id": "count", "type": "acme.words", "params": {"minimum": 4}},
        ],
        "edges": [{"source": "text", "target": "count"}],
    }
    done = dagmill_cli("run", str(write_json(doc)), "--json", env=env)
    assert json.loads(done.stdout)["outputs"] == {"count": 3}
    bad = dagmill_cli("validate", str(write_json({"nodes": [{"id": "c", "type": "acme.words", "params": {"minimum": 0}}]})), env=env)
    assert (bad.returncode, bad.stderr.strip()) == (2, "nodes[0].params.minimum: must be >= 1, got 0")


def test_plugins_doc_lists_every_hook() -> None:
    from dagmill import hookspecs

    hooks = {name for name in vars(hookspecs) if name.startswith("dagmill_")}
    table = (DOCS / "plugins.md").read_text().split("## The hooks", 1)[1].split("\n\n", 2)[1]
    listed = {name for name in hooks if f"`{name}(" in table}
    assert listed == hooks
