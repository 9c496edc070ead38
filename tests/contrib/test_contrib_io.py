"""I/O node types against real things: an HTTP server on 127.0.0.1, the file system, processes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import free_port

import dagmill
from dagmill_contrib_nodes import io

Cli = Callable[..., subprocess.CompletedProcess[str]]


class Handler(BaseHTTPRequestHandler):
    release: threading.Event

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/json":
            self._send(200, json.dumps({"total": 42, "items": [1, 2]}).encode(), "application/json")
        elif self.path == "/text":
            self._send(200, b"plain words", "text/plain")
        elif self.path == "/not-json":
            self._send(200, b"{oops", "application/json")
        elif self.path == "/slow":
            self.release.wait(timeout=30)
            self._send(200, b"late", "text/plain")
        else:
            self._send(404, b"nothing here", "text/plain")

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._send(201, json.dumps({"received": body}).encode(), "application/json")

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def server() -> Iterator[str]:
    release = threading.Event()
    handler = type("BoundHandler", (Handler,), {"release": release})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    release.set()
    httpd.shutdown()
    httpd.server_close()


def get(node_id: str, url: str, **params: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "http_get", "params": {"url": url, **params}}


async def test_http_get_json_text_and_status_errors(server: str) -> None:
    doc = {
        "nodes": [
            get("json", f"{server}/json"),
            get("text", f"{server}/text"),
            get("forced", f"{server}/text", expect="json"),
            get("missing", f"{server}/nowhere"),
            get("broken", f"{server}/not-json"),
            {"id": "total", "type": "json_get", "params": {"path": "total"}},
        ],
        "edges": [{"source": "json", "target": "total"}],
    }
    result = await dagmill.arun(doc, fail_policy="continue", scheduler="ready")
    assert result.outputs["total"] == 42
    assert result.outputs["text"] == "plain words"
    assert result.nodes["missing"].error == f"RuntimeError: GET {server}/nowhere: HTTP 404 Not Found"
    assert result.nodes["forced"].error.startswith(f"ValueError: GET {server}/text: the response is not JSON")  # type: ignore[union-attr]
    assert result.nodes["broken"].error.startswith(f"ValueError: GET {server}/not-json: the response is not JSON")  # type: ignore[union-attr]


async def test_http_timeout_fails_the_node(server: str) -> None:
    result = await dagmill.arun({"nodes": [get("slow", f"{server}/slow", timeout=0.2)]})
    assert result.nodes["slow"].error == f"TimeoutError: GET {server}/slow: no response within 0.2s"


async def test_http_connection_refused_is_a_clear_failure() -> None:
    port = free_port()
    result = await dagmill.arun({"nodes": [get("down", f"http://127.0.0.1:{port}/")]})
    assert result.nodes["down"].error.startswith(f"ConnectionError: GET http://127.0.0.1:{port}/: ")  # type: ignore[union-attr]


async def test_http_post_sends_the_input_as_json(server: str) -> None:
    doc = {
        "nodes": [
            {"id": "payload", "type": "value", "params": {"value": {"a": 1}}},
            {"id": "post", "type": "http_post", "params": {"url": f"{server}/submit"}},
            {"id": "fixed", "type": "http_post", "params": {"url": f"{server}/submit", "json": [1, 2]}},
        ],
        "edges": [{"source": "payload", "target": "post"}],
    }
    result = await dagmill.arun(doc)
    assert result.outputs == {"post": {"received": {"a": 1}}, "fixed": {"received": [1, 2]}}


async def test_one_http_client_per_run(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[httpx.AsyncClient] = []

    class Counting(httpx.AsyncClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(io.httpx, "AsyncClient", Counting)
    doc = {"nodes": [get(f"g{k}", f"{server}/json") for k in range(6)]}
    await dagmill.arun(doc, max_concurrency=3)
    await dagmill.arun(doc, max_concurrency=3)
    assert len(made) == 2
    assert all(client.is_closed for client in made)


async def test_files_round_trip_inside_the_run_workdir(tmp_path: Path) -> None:
    doc = {
        "nodes": [
            {"id": "data", "type": "value", "params": {"value": {"n": 3}}},
            {"id": "save", "type": "write_file", "params": {"path": "out/data.json"}},
            {"id": "load", "type": "read_file", "params": {"path": "out/data.json", "parse": "json"}},
        ],
        "edges": [{"source": "data", "target": "save"}, {"source": "save", "target": "load"}],
    }
    result = await dagmill.arun(doc, workdir=tmp_path)
    assert result.outputs == {"load": {"n": 3}}
    assert json.loads((tmp_path / "out" / "data.json").read_text()) == {"n": 3}


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "a/../../b", "C:\\\\temp\\\\x"])
def test_paths_that_escape_the_workdir_are_validation_errors(path: str) -> None:
    with pytest.raises(dagmill.WorkflowError) as caught:
        dagmill.load({"nodes": [{"id": "r", "type": "read_file", "params": {"path": path}}]})
    (problem,) = caught.value.problems
    assert problem.place == "nodes[0].params.path"
    assert problem.message.startswith("must stay inside the run's work directory (relative, no '..')")


async def test_a_symlink_out_of_the_workdir_fails_the_node(tmp_path: Path) -> None:
    workdir, outside = tmp_path / "work", tmp_path / "secret.txt"
    workdir.mkdir()
    outside.write_text("secret")
    (workdir / "link.txt").symlink_to(outside)
    result = await dagmill.arun({"nodes": [{"id": "r", "type": "read_file", "params": {"path": "link.txt"}}]}, workdir=workdir)
    assert result.nodes["r"].status is dagmill.Status.FAILED
    assert result.nodes["r"].error == f"PermissionError: 'link.txt' leads outside the run's work directory (to {outside})"


SHELL = {"nodes": [{"id": "hello", "type": "shell", "params": {"argv": [sys.executable, "-c", "print('hi from a process')"]}}]}


async def test_shell_is_refused_unless_the_run_allows_it() -> None:
    with pytest.raises(dagmill.UsageError, match=r"shell node\(s\) 'hello' refused: allow commands with 'dagmill run --allow-shell'"):
        await dagmill.arun(SHELL)
    result = await dagmill.arun(SHELL, settings={"allow_shell": True})
    assert result.outputs == {"hello": "hi from a process\n"}


async def test_shell_failure_carries_the_exit_code_and_stderr() -> None:
    argv = [sys.executable, "-c", "import sys; sys.stderr.write('went wrong'); sys.exit(3)"]
    result = await dagmill.arun({"nodes": [{"id": "x", "type": "shell", "params": {"argv": argv}}]}, settings={"allow_shell": True})
    assert result.nodes["x"].error == f"RuntimeError: shell: {sys.executable!r} exited 3: went wrong"


def test_shell_refusal_on_the_command_line_exits_2_and_runs_nothing(dagmill_cli: Cli, write_json: Callable[..., Path], tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    argv = [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]
    path = str(write_json({"nodes": [{"id": "touch", "type": "shell", "params": {"argv": argv}}]}))
    refused = dagmill_cli("run", path)
    assert refused.returncode == 2
    assert "refused: allow commands with 'dagmill run --allow-shell'" in refused.stderr
    assert not marker.exists()
    allowed = dagmill_cli("run", path, "--allow-shell")
    assert allowed.returncode == 0, allowed.stderr
    assert marker.exists()


