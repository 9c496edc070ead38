"""The HTML run report, opened in headless Chromium: one bar per node, a screenshot that is not blank."""

from __future__ import annotations

import re
import resource
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import dagmill
import nodetypes
from dagmill.plugins.journal import Journal, read_run
from dagmill.plugins.report import render

Cli = Callable[..., subprocess.CompletedProcess[str]]

DOC = {
    "name": "reported",
    "nodes": [
        {"id": "a", "type": "t.value", "params": {"value": 1}},
        {"id": "b", "type": "t.sleep", "params": {"seconds": 0.05}},
        {"id": "c", "type": "t.sum"},
        {"id": "boom", "type": "t.fail", "params": {"message": "<script>alert(1)</script> & more"}},
        {"id": "after_boom", "type": "t.sum"},
    ],
    "edges": [{"source": "a", "target": "c"}, {"source": "boom", "target": "after_boom"}],
}


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium is not installed (Debian package chromium; .ci/run installs it)")
    return path


def headless(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    return subprocess.run([chromium(), *flags, *args], capture_output=True, text=True, timeout=120)


def png_byte_variety(path: Path) -> int:
    """How many distinct byte values the PNG's decompressed image data holds (a blank page holds very few)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat = 8, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        if kind == b"IDAT":
            idat += data[position + 8 : position + 8 + length]
        position += 12 + length
    return len(set(zlib.decompress(idat)))


@pytest.fixture(params=["result", "journal"])
def report(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, dagmill.RunResult]:
    """A report rendered from a run's result, or from what the journal recorded of it."""
    with Journal(tmp_path / "journal.sqlite3") as journal:
        result = dagmill.run(DOC, plugins=[nodetypes, journal], fail_policy="continue", handle_signals=False)
    if request.param == "journal":
        result = read_run(tmp_path / "journal.sqlite3", result.run_id)
    path = tmp_path / "report.html"
    path.write_text(render(result))
    return path, result


def test_the_rendered_dom_holds_one_bar_per_node(report: tuple[Path, dagmill.RunResult], tmp_path: Path) -> None:
    path, result = report
    dom = headless(tmp_path, "--dump-dom", path.as_uri()).stdout
    bars = re.findall(r"<rect data-node=\"([^\"]+)\" class=\"bar (\w+)\"", dom)
    assert sorted(bars) == sorted((node_id, node.status.value) for node_id, node in result.nodes.items())
    assert "<script>" not in dom
    assert "RuntimeError: &lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in dom


def test_the_screenshot_is_not_blank(report: tuple[Path, dagmill.RunResult], tmp_path: Path) -> None:
    path, _ = report
    shot = tmp_path / "shot.png"
    headless(tmp_path, f"--screenshot={shot}", "--window-size=1100,900", path.as_uri())
    assert png_byte_variety(shot) > 50


def test_the_report_needs_no_network(report: tuple[Path, dagmill.RunResult]) -> None:
    text = report[0].read_text()
    assert not re.search(r"""(src|href)\s*=\s*['"]?https?:""", text)
    assert "<script" not in text.replace("&lt;script", "")


def test_cli_writes_the_report(dagmill_cli: Cli, write_json: Callable[..., Path], tmp_path: Path) -> None:
    done = dagmill_cli("run", str(write_json(DOC)), "--fail-policy", "continue", "--report", "out.html")
    assert done.returncode == 1
    assert "dagmill: report written to out.html" in done.stderr
    assert (tmp_path / "out.html").read_text().count("data-node=") == 5


def marked(tmp_path: Path) -> dict[str, Any]:
    """A document whose one node leaves a file ``ran`` in ``tmp_path``."""
    return {"nodes": [{"id": "a", "type": "t.sleep", "params": {"seconds": 0, "marker": str(tmp_path / "ran")}}]}


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("folder", "--report folder: is a directory; name the HTML file to write"),
        ("missing/dir/out.html", "--report missing/dir/out.html: no directory missing/dir to write it in"),
        ("flow.json/out.html", "--report flow.json/out.html: no directory flow.json to write it in"),
    ],
)
def test_a_report_that_cannot_be_written_is_an_error_before_the_run(
    dagmill_cli: Cli, write_json: Callable[..., Path], tmp_path: Path, target: str, error: str
) -> None:
    (tmp_path / "folder").mkdir()
    flow = write_json(marked(tmp_path))
    for args, env in ((["--report", target], {}), ([], {"DAGMILL_REPORT": target})):
        done = dagmill_cli("run", str(flow), *args, env=env)
        assert (done.returncode, done.stderr) == (2, f"dagmill: error: {error}\n")
        assert not (tmp_path / "ran").exists()
        assert not (tmp_path / ".dagmill").exists(), "refused before the journal was opened"


def test_a_report_path_holding_a_nul_is_an_error_before_the_run(dagmill_cli: Cli, write_json: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "dagmill.toml").write_text('report = "a\\u0000b"\n')  # only a config file can carry a NUL
    done = dagmill_cli("run", str(write_json(marked(tmp_path))))
    assert (done.returncode, done.stderr) == (2, "dagmill: error: --report 'a\\x00b': not a file name (it holds a NUL character)\n")
    assert not (tmp_path / "ran").exists()


def test_a_report_that_fails_to_write_after_the_run_is_a_warning(plugin_env: dict[str, str], write_json: Callable[..., Path], tmp_path: Path) -> None:
    def small_files() -> None:  # as on a full disk: files may not grow past 1000 bytes (EFBIG, not a signal)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    command = [sys.executable, "-m", "dagmill", "run", str(write_json(marked(tmp_path))), "--no-journal", "--report", "out.html"]
    done = subprocess.run(command, capture_output=True, text=True, env=plugin_env, cwd=tmp_path, timeout=60, preexec_fn=small_files)
    assert done.returncode == 0, done.stderr
    assert "dagmill: warning: could not write the report to out.html: File too large" in done.stderr
    assert (tmp_path / "ran").exists()


def test_large_runs_draw_a_capped_number_of_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagmill.plugins import report as module

    doc = {"nodes": [{"id": f"n{k}", "type": "t.noop"} for k in range(30)]}
    result = dagmill.run(doc, plugins=[nodetypes], handle_signals=False)
    monkeypatch.setattr(module, "MAX_BARS", 10)
    text = render(result)
    assert text.count("data-node=") == 10
    assert "20 more nodes not drawn" in text


def test_the_journal_gives_back_the_record_of_the_run(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        ran = dagmill.run(DOC, plugins=[nodetypes, journal], fail_policy="continue", max_concurrency=3, handle_signals=False)
    read = read_run(tmp_path / "journal.sqlite3", ran.run_id)
    assert (read.workflow, read.status, read.scheduler, read.max_concurrency, read.error) == (
        ran.workflow, ran.status, ran.scheduler, ran.max_concurrency, ran.error,
    )  # fmt: skip
    assert read.duration == ran.duration
    assert read.levels == ran.levels
    for node_id, node in ran.nodes.items():
        back = read.nodes[node_id]
        assert (back.status, back.level, back.attempts, back.error, back.traceback, back.stalled) == (
            node.status, node.level, node.attempts, node.error, node.traceback, node.stalled,
        )  # fmt: skip
        assert (back.ready_at, back.started_at) == (node.ready_at, node.started_at)
        assert back.ended_at == pytest.approx(node.ended_at, abs=1e-6)


def test_a_run_that_died_is_reported_with_what_was_running(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        ran = dagmill.run(DOC, plugins=[nodetypes, journal], fail_policy="continue", handle_signals=False)
    gone = subprocess.Popen(["true"])
    gone.wait()
    with sqlite3.connect(path) as conn:  # what a kill -9 while b ran leaves: no end of the run, b seen running
        conn.execute("UPDATE runs SET status = 'running', duration = NULL, levels = NULL, counts = NULL, pid = ?", (gone.pid,))
        conn.execute("DELETE FROM events WHERE node_id = 'b'")
        conn.execute(
            "INSERT INTO events (run, node_id, status, at, level) SELECT run, 'b', 'running', at, 0 FROM events WHERE node_id = 'a'"
        )
    died = read_run(path, ran.run_id)
    assert died.status is dagmill.Status.FAILED
    assert died.error is not None and f"(pid {gone.pid} on " in died.error and "died before the run ended" in died.error
    assert died.nodes["b"].status is dagmill.Status.RUNNING and died.nodes["b"].ended_at is None
    assert died.nodes["a"].status is dagmill.Status.SUCCEEDED
    assert died.levels[0].ended_at is None and died.levels[0].width == 3
    text = render(died)
    assert "class='bar running'" in text and text.count("data-node=") == 5


def test_cli_writes_the_report_of_a_recorded_run(dagmill_cli: Cli, write_json: Callable[..., Path], tmp_path: Path) -> None:
    ran = dagmill_cli("run", str(write_json(DOC)), "--fail-policy", "continue", "--run-id", "r1", "--journal", "j.sqlite3")
    assert ran.returncode == 1
    done = dagmill_cli("report", "r1", "--journal", "j.sqlite3", "-o", "r1.html")
    assert done.returncode == 0, done.stderr
    assert "dagmill: report of run r1 (failed) written to r1.html" in done.stderr
    assert (tmp_path / "r1.html").read_text().count("data-node=") == 5
    assert dagmill_cli("report", "r1", env={"DAGMILL_JOURNAL": "j.sqlite3"}).returncode == 0
    assert (tmp_path / "report-r1.html").is_file()
    unknown = dagmill_cli("report", "r2", "--journal", "j.sqlite3")
    assert unknown.returncode == 2
    assert "dagmill: error: no run 'r2' in journal j.sqlite3 (list them with: dagmill runs)" in unknown.stderr
