"""Proven against the real thing: a Prometheus server scrapes a run, a pushgateway receives a push."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import free_port

Cli = Callable[..., subprocess.CompletedProcess[str]]
DASHBOARD = Path(__file__).parent.parent.parent / "docs" / "grafana" / "dagmill.json"

FLOW = {
    "name": "scraped",
    "nodes": [{"id": f"w{k}", "type": "t.sleep", "params": {"seconds": 0.5}} for k in range(4)]
    + [{"id": "join", "type": "t.noop"}, {"id": "tail", "type": "t.sleep", "params": {"seconds": 0.5}}],
    "edges": [{"source": f"w{k}", "target": "join"} for k in range(4)] + [{"source": "join", "target": "tail"}],
}


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def wait_until(check: Callable[[], Any], what: str, seconds: float = 30) -> Any:
    """Poll ``check`` until it returns something truthy, failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            found = check()
        except OSError:
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (Debian package prometheus / prometheus-pushgateway; .ci/run installs it)")
    return path


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A real Prometheus on 127.0.0.1 scraping a metrics port every second: (its URL, the port it scrapes)."""
    binary = need("prometheus")
    target, port = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: dagmill\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
    )
    command = [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as server:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: "Ready" in get(f"{url}/-/ready"), "Prometheus to be ready")
            # discovery hands targets to the scrape loop a few seconds after start: wait until ours is in it
            wait_until(lambda: json.loads(get(f"{url}/api/v1/targets"))["data"]["activeTargets"], "the scrape target")
            yield url, target
        finally:
            server.terminate()
            server.wait(timeout=30)


def query(url: str, promql: str) -> list[dict[str, Any]]:
    answer = json.loads(get(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})))
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


@pytest.mark.slow
def test_prometheus_scrapes_level_latency_and_concurrency(
    prometheus: tuple[str, int], dagmill_cli: Cli, write_json: Callable[..., Path]
) -> None:
    url, port = prometheus
    done = dagmill_cli("run", str(write_json(FLOW)), "--metrics-port", str(port), "--metrics-linger", "3", "--max-concurrency", "4")
    assert done.returncode == 0, done.stderr
    # the target is gone once the run ends, so Prometheus marks its series stale: read the last values in a window
    levels = wait_until(lambda: query(url, 'last_over_time(dagmill_level_duration_seconds_count{workflow="scraped"}[5m])'), "the level histogram")
    assert levels[0]["metric"]["scheduler"] == "level" and float(levels[0]["value"][1]) == 3
    peak = wait_until(lambda: query(url, 'max_over_time(dagmill_concurrency{workflow="scraped"}[5m])'), "the concurrency gauge")
    assert float(peak[0]["value"][1]) >= 1
    runs = query(url, 'last_over_time(dagmill_runs_total{workflow="scraped"}[5m])')
    assert float(runs[0]["value"][1]) == 1 and runs[0]["metric"]["outcome"] == "succeeded"


@pytest.fixture
def pushgateway() -> Iterator[str]:
    binary = need("prometheus-pushgateway")
    port = free_port()
    with subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as server:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: "OK" in get(f"{url}/-/ready"), "the pushgateway to be ready")
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.mark.slow
def test_pushgateway_receives_the_push(pushgateway: str, dagmill_cli: Cli, write_json: Callable[..., Path]) -> None:
    done = dagmill_cli("run", str(write_json({**FLOW, "name": "pushed"})), "--pushgateway", pushgateway)
    assert done.returncode == 0, done.stderr
    exposition = get(f"{pushgateway}/metrics")
    runs = [line for line in exposition.splitlines() if line.startswith("dagmill_runs_total{")]
    assert len(runs) == 1
    assert all(label in runs[0] for label in ('job="dagmill"', 'workflow="pushed"', 'outcome="succeeded"'))
    assert runs[0].endswith(" 1")


def test_a_failed_push_is_a_warning_not_a_failed_run(dagmill_cli: Cli, write_json: Callable[..., Path]) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    done = dagmill_cli("run", str(write_json({"nodes": [{"id": "a", "type": "t.value"}]})), "--pushgateway", nowhere)
    assert done.returncode == 0
    assert f"dagmill: warning: could not push metrics to {nowhere}: " in done.stderr


def test_a_port_in_use_is_an_error_before_the_run(dagmill_cli: Cli, write_json: Callable[..., Path], tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    flow = {"nodes": [{"id": "a", "type": "t.sleep", "params": {"seconds": 0, "marker": str(marker)}}]}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = dagmill_cli("run", str(write_json(flow)), "--metrics-port", str(port))
    assert done.returncode == 2
    assert done.stderr.strip() == f"dagmill: error: --metrics-port: cannot serve metrics on 127.0.0.1:{port}: Address already in use"
    assert not marker.exists()


def test_grafana_dashboard_queries_only_exported_metrics() -> None:
    import dagmill
    import nodetypes
    from prometheus_client import CollectorRegistry
    from dagmill.plugins.metrics import MetricsPlugin

    registry = CollectorRegistry()
    dagmill.run({**FLOW, "resources": {"pool": 1}}, plugins=[nodetypes, MetricsPlugin(registry)], handle_signals=False)
    exported = {family.name for family in registry.collect()}
    panels = json.loads(DASHBOARD.read_text())["panels"]
    expressions = [target["expr"] for panel in panels for target in panel.get("targets", [])]
    assert len(expressions) >= 8
    for expression in expressions:
        names = re.findall(r"\bdagmill_[a-z_]+", expression)
        assert names, expression
        for name in names:
            base = re.sub(r"_(bucket|sum|count|total)$", "", name)
            assert base in exported, f"{name} in {expression!r} is not exported"



SERVING = ["--metrics-port", "0"]  # any free port: a linger matters only when serving
IMPOSSIBLE = {
    "port 99999": (["--metrics-port", "99999"], {}, "", "argument --metrics-port: expected a port number from 0 to 65535, got '99999'"),
    "port 65536": (["--metrics-port", "65536"], {}, "", "argument --metrics-port: expected a port number from 0 to 65535, got '65536'"),
    "port -1": (["--metrics-port", "-1"], {}, "", "argument --metrics-port: expected a port number from 0 to 65535, got '-1'"),
    "port from env": ([], {"DAGMILL_METRICS_PORT": "70000"}, "", "DAGMILL_METRICS_PORT: expected a port number from 0 to 65535, got '70000'"),
    "port from file": ([], {}, "metrics_port = 65536", "dagmill.toml: metrics_port: expected a port number from 0 to 65535, got '65536'"),
    "linger nan": ([*SERVING, "--metrics-linger", "nan"], {}, "", "argument --metrics-linger: expected a number of seconds from 0 to 86400, got 'nan'"),
    "linger inf": ([*SERVING, "--metrics-linger", "inf"], {}, "", "argument --metrics-linger: expected a number of seconds from 0 to 86400, got 'inf'"),
    "linger -1": (["--metrics-linger", "-1"], {}, "", "argument --metrics-linger: expected a number of seconds from 0 to 86400, got '-1'"),
    "linger 1e300": ([*SERVING, "--metrics-linger", "1e300"], {}, "", "argument --metrics-linger: expected a number of seconds from 0 to 86400, got '1e300'"),
    "linger from env": (SERVING, {"DAGMILL_METRICS_LINGER": "nan"}, "", "DAGMILL_METRICS_LINGER: expected a number of seconds from 0 to 86400, got 'nan'"),
    "linger from file": (SERVING, {}, "metrics_linger = -1", "dagmill.toml: metrics_linger: expected a number of seconds from 0 to 86400, got '-1'"),
    "gateway port": (["--pushgateway", "http://host:notaport"], {}, "", "argument --pushgateway: expected the pushgateway's URL (http://HOST:PORT), got 'http://host:notaport'"),
    "gateway ipv6": (["--pushgateway", "http://[::1"], {}, "", "argument --pushgateway: expected the pushgateway's URL (http://HOST:PORT), got 'http://[::1'"),
    "host not a name": ([*SERVING, "--metrics-host", "a..b"], {}, "", "--metrics-host a..b: not a host name ("),
}  # fmt: skip


@pytest.mark.parametrize(("args", "env", "toml", "error"), IMPOSSIBLE.values(), ids=IMPOSSIBLE.keys())
def test_an_impossible_port_linger_gateway_or_host_is_an_error_before_the_run(
    dagmill_cli: Cli, write_json: Callable[..., Path], tmp_path: Path, args: list[str], env: dict[str, str], toml: str, error: str
) -> None:
    marker = tmp_path / "ran"
    flow = {"nodes": [{"id": "a", "type": "t.sleep", "params": {"seconds": 0, "marker": str(marker)}}]}
    if toml:
        (tmp_path / "dagmill.toml").write_text(toml + "\n")
    done = dagmill_cli("run", str(write_json(flow)), "--no-journal", *args, env=env, timeout=30)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"error: {error}" in done.stderr.splitlines()[-1], done.stderr
    assert not marker.exists()
