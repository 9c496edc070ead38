"""Run options from dagmill.toml, [tool.dagmill] and DAGMILL_*: CLI > env > file > defaults."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from test_cli import EXAMPLE

Cli = Callable[..., subprocess.CompletedProcess[str]]


def config(dagmill_cli: Cli, **env: str) -> dict[str, dict[str, object]]:
    done = dagmill_cli("config", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_defaults_when_nothing_is_set(dagmill_cli: Cli) -> None:
    settings = config(dagmill_cli)
    assert settings["scheduler"] == {"value": "level", "source": "default"}
    assert settings["max_concurrency"] == {"value": "auto", "source": "default"}


def test_environment_over_file_over_defaults(dagmill_cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "dagmill.toml").write_text('scheduler = "sequential"\nmax-concurrency = 3\nfail_policy = "continue"\n')
    settings = config(dagmill_cli, DAGMILL_SCHEDULER="ready", DAGMILL_KEEP_OUTPUTS="yes")
    assert settings["scheduler"] == {"value": "ready", "source": "DAGMILL_SCHEDULER"}
    assert settings["max_concurrency"] == {"value": 3, "source": "dagmill.toml"}
    assert settings["fail_policy"] == {"value": "continue", "source": "dagmill.toml"}
    assert settings["keep_outputs"] == {"value": True, "source": "DAGMILL_KEEP_OUTPUTS"}


def test_pyproject_tool_table_is_read_when_there_is_no_dagmill_toml(dagmill_cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.dagmill]\ntimeout = 90\n')
    assert config(dagmill_cli)["timeout"] == {"value": 90.0, "source": "pyproject.toml [tool.dagmill]"}


def test_run_uses_the_layers_and_the_command_line_wins(dagmill_cli: Cli, write_json: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "dagmill.toml").write_text('scheduler = "sequential"\nmax_concurrency = 2\n')
    flow = str(write_json(EXAMPLE))
    from_file = json.loads(dagmill_cli("run", flow, "--json").stdout)
    assert (from_file["scheduler"], from_file["max_concurrency"]) == ("sequential", 2)
    from_env = json.loads(dagmill_cli("run", flow, "--json", env={"DAGMILL_SCHEDULER": "ready"}).stdout)
    assert from_env["scheduler"] == "ready"
    from_cli = json.loads(dagmill_cli("run", flow, "--json", "--scheduler", "level", env={"DAGMILL_SCHEDULER": "ready"}).stdout)
    assert from_cli["scheduler"] == "level"
    via_env_json = dagmill_cli("run", flow, env={"DAGMILL_JSON": "1"})
    assert json.loads(via_env_json.stdout)["status"] == "succeeded"


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("schedular = 'ready'\n", {}, "dagmill.toml: schedular: unknown option (did you mean 'scheduler'?)"),
        ("fail_policy = 'panic'\n", {}, "dagmill.toml: fail_policy: expected one of fail_fast, continue, got 'panic'"),
        ("", {"DAGMILL_MAX_CONCURRENCY": "lots"}, "DAGMILL_MAX_CONCURRENCY: expected a number >= 0 or 'auto', got 'lots'"),
        ("", {"DAGMILL_KEEP_OUTPUTS": "perhaps"}, "DAGMILL_KEEP_OUTPUTS: expected true or false, got 'perhaps'"),
        ("timeout = [1]\n", {}, "dagmill.toml: timeout: expected a value, got [1]"),
    ],
)
def test_bad_settings_are_usage_errors_naming_their_place(
    dagmill_cli: Cli, write_json: Callable[..., Path], tmp_path: Path, toml: str, env: dict[str, str], message: str
) -> None:
    (tmp_path / "dagmill.toml").write_text(toml)
    done = dagmill_cli("run", str(write_json(EXAMPLE)), env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == f"dagmill: error: {message}"


def test_broken_toml_is_a_usage_error(dagmill_cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "dagmill.toml").write_text("scheduler = \n")
    done = dagmill_cli("config")
    assert done.returncode == 2
    assert "dagmill.toml: Invalid value (at line 1, column 13)" in done.stderr


def test_a_broken_file_stops_only_the_commands_that_use_the_run_options(
    dagmill_cli: Cli, write_json: Callable[..., Path], tmp_path: Path
) -> None:
    (tmp_path / "dagmill.toml").write_text("schedular = 'ready'\n")
    flow = str(write_json(EXAMPLE))
    for args in (["--help"], ["validate", flow], ["plan", flow], ["plugins"]):
        assert dagmill_cli(*args).returncode == 0, args
    for args in (["run", flow], ["config"], ["runs"]):
        done = dagmill_cli(*args)
        assert (done.returncode, done.stderr.strip()) == (2, "dagmill: error: dagmill.toml: schedular: unknown option (did you mean 'scheduler'?)")


def test_journal_commands_read_the_journal_the_file_names(dagmill_cli: Cli, write_json: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "dagmill.toml").write_text('journal = "runs/mine.sqlite3"\n')
    (tmp_path / "runs").mkdir()
    ran = dagmill_cli("run", str(write_json(EXAMPLE)), "--run-id", "configured", "--json")
    assert ran.returncode == 0 and (tmp_path / "runs" / "mine.sqlite3").exists()
    listed = dagmill_cli("runs", "--json")
    assert [run["run_id"] for run in json.loads(listed.stdout)] == ["configured"]
    shown = dagmill_cli("show", "configured", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["run"]["status"] == "succeeded"
    reported = dagmill_cli("report", "configured")
    assert reported.returncode == 0 and (tmp_path / "report-configured.html").exists()
