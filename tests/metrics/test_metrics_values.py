"""The metrics plugin's values, exactly, from an in-process CollectorRegistry."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry, generate_latest

import dagmill
import nodetypes
from dagmill.plugins.journal import Journal
from dagmill.plugins.metrics import MetricsPlugin

DOCS = Path(__file__).parent.parent.parent / "docs" / "metrics.md"

DOC = {
    "name": "metered",
    "resources": {"db": 2},
    "nodes": [
        {"id": "a", "type": "t.sleep", "params": {"seconds": 2}},
        {"id": "b", "type": "t.sleep", "params": {"seconds": 3}, "resources": {"db": 2}},
        {"id": "c", "type": "t.flaky", "params": {"failures": 2}, "retries": 2, "retry_backoff": 0},
        {"id": "d", "type": "t.fail"},
        {"id": "e", "type": "t.sum"},
    ],
    "edges": [{"source": "a", "target": "c"}, {"source": "b", "target": "c"}, {"source": "d", "target": "e"}],
}


async def metered(registry: CollectorRegistry, **options: Any) -> dagmill.RunResult:
    return await dagmill.arun(DOC, plugins=[nodetypes, MetricsPlugin(registry), *options.pop("plugins", [])], **options)


async def test_counts_durations_and_waits(autojump_clock: trio.testing.MockClock) -> None:
    registry = CollectorRegistry()
    await metered(registry, fail_policy="continue", scheduler="ready", max_concurrency=1)
    value = registry.get_sample_value
    assert value("dagmill_runs_total", {"workflow": "metered", "scheduler": "ready", "outcome": "failed"}) == 1
    assert value("dagmill_nodes_total", {"workflow": "metered", "outcome": "succeeded"}) == 3
    assert value("dagmill_nodes_total", {"workflow": "metered", "outcome": "failed"}) == 1
    assert value("dagmill_nodes_total", {"workflow": "metered", "outcome": "skipped"}) == 1
    flaky = {"workflow": "metered", "node_type": "t.flaky", "outcome": "succeeded"}
    assert value("dagmill_node_attempts_total", flaky) == 3
    assert value("dagmill_node_retries_total", {"workflow": "metered", "node_type": "t.flaky"}) == 2
    sleep = {"workflow": "metered", "node_type": "t.sleep", "outcome": "succeeded"}
    assert value("dagmill_node_duration_seconds_count", sleep) == 2
    assert value("dagmill_node_duration_seconds_sum", sleep) == pytest.approx(5)
    # one slot, equal estimated paths, so id order: a runs 0-2, b waits 2s, then runs 2-5
    assert value("dagmill_node_queue_wait_seconds_sum", sleep) == pytest.approx(2)
    assert value("dagmill_node_duration_seconds_bucket", {**sleep, "le": "2.5"}) == 1
    levels = {"workflow": "metered", "scheduler": "ready"}
    assert value("dagmill_level_duration_seconds_count", levels) == 2
    assert value("dagmill_level_width_sum", levels) == 5
    assert value("dagmill_run_duration_seconds_sum", {**levels, "outcome": "failed"}) == pytest.approx(5)
    assert value("dagmill_max_concurrency", levels) == 1
    assert value("dagmill_concurrency", levels) is None  # no run in progress


async def test_live_gauges_during_the_run(autojump_clock: trio.testing.MockClock) -> None:
    registry = CollectorRegistry()

    @dagmill.node_type("t.probe")
    async def probe(params: None, inputs: Any, ctx: dagmill.NodeContext) -> dict[str, float | None]:
        await trio.sleep(1)
        value = registry.get_sample_value
        return {
            "concurrency": value("dagmill_concurrency", {"workflow": "metered", "scheduler": "level"}),
            "in_flight": value("dagmill_nodes_in_flight", {"workflow": "metered", "node_type": "t.sleep"}),
            "db_in_use": value("dagmill_pool_in_use", {"workflow": "metered", "pool": "db"}),
            "db_capacity": value("dagmill_pool_capacity", {"workflow": "metered", "pool": "db"}),
            "open": value("dagmill_levels_open", {"workflow": "metered", "scheduler": "level"}),
            "runs": value("dagmill_runs_in_progress", {"workflow": "metered", "scheduler": "level"}),
        }

    class Probe:
        @dagmill.hookimpl
        def dagmill_node_types(self) -> list[dagmill.NodeType]:
            return [probe]

    document = {**DOC, "nodes": [*DOC["nodes"], {"id": "probe", "type": "t.probe"}]}
    result = await dagmill.arun(document, plugins=[nodetypes, MetricsPlugin(registry), Probe()], fail_policy="continue", max_concurrency=4)
    # at t=1: a (2s) and b (3s, both db tokens) and the probe itself run; d failed at once; level 0 is the only one open
    assert result.outputs["probe"] == {"concurrency": 3, "in_flight": 2, "db_in_use": 2, "db_capacity": 2, "open": 1, "runs": 1}


async def test_a_scrape_mid_run_counts_every_closed_level_once(autojump_clock: trio.testing.MockClock) -> None:
    registry = CollectorRegistry()
    labels = {"workflow": "midway", "outcome": "succeeded"}

    @dagmill.node_type("t.scrape")
    def scrape(params: None, inputs: Any, ctx: dagmill.NodeContext) -> list[float | None]:
        # two scrapes: the second must not count level 0 again
        return [registry.get_sample_value("dagmill_nodes_total", labels) for _ in range(2)]

    class Scrape:
        @dagmill.hookimpl
        def dagmill_node_types(self) -> list[dagmill.NodeType]:
            return [scrape]

    document = {
        "name": "midway",
        "nodes": [{"id": "a", "type": "t.sleep", "params": {"seconds": 1}}, {"id": "b", "type": "t.value"}, {"id": "probe", "type": "t.scrape"}],
        "edges": [{"source": "a", "target": "probe"}, {"source": "b", "target": "probe"}],
    }
    result = await dagmill.arun(document, plugins=[nodetypes, MetricsPlugin(registry), Scrape()], scheduler="ready")
    assert result.outputs["probe"] == [2, 2]  # level 0 (a, b) closed; the probe's own level is still open
    assert registry.get_sample_value("dagmill_nodes_total", labels) == 3
    sleep = {"workflow": "midway", "node_type": "t.sleep", "outcome": "succeeded"}
    assert registry.get_sample_value("dagmill_node_duration_seconds_count", sleep) == 1
    assert registry.get_sample_value("dagmill_node_duration_seconds_sum", sleep) == pytest.approx(1)


async def test_runs_in_one_process_do_not_collide(autojump_clock: trio.testing.MockClock) -> None:
    shared, other = CollectorRegistry(), CollectorRegistry()
    plugin = MetricsPlugin(shared)
    for _ in range(2):
        await dagmill.arun(DOC, plugins=[nodetypes, plugin], fail_policy="continue")
    await dagmill.arun(DOC, plugins=[nodetypes, MetricsPlugin(other)], fail_policy="continue")
    labels = {"workflow": "metered", "scheduler": "level", "outcome": "failed"}
    assert shared.get_sample_value("dagmill_runs_total", labels) == 2
    assert other.get_sample_value("dagmill_runs_total", labels) == 1


async def test_no_node_ids_or_run_ids_in_labels(autojump_clock: trio.testing.MockClock) -> None:
    registry = CollectorRegistry()
    result = await metered(registry, fail_policy="continue")
    exposition = generate_latest(registry).decode()
    for forbidden in [result.run_id, 'node="', 'level="']:
        assert forbidden not in exposition


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) is not installed")
async def test_exposition_passes_promtool(autojump_clock: trio.testing.MockClock) -> None:
    registry = CollectorRegistry()
    await metered(registry, fail_policy="continue")
    checked = subprocess.run(["promtool", "check", "metrics"], input=generate_latest(registry), capture_output=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_cache_hits_and_misses_come_from_the_journal(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    plugin = MetricsPlugin(registry)
    document = {
        "name": "cached",
        "nodes": [{"id": "a", "type": "t.value", "params": {"value": 1}, "cache": True}, {"id": "b", "type": "t.sum"}],
        "edges": [{"source": "a", "target": "b"}],
    }
    with Journal(tmp_path / "j.sqlite3") as journal:
        # the metrics plugin registered last, so pluggy would call it first: only trylast lets it see the journal's figures
        first = await dagmill.arun(document, plugins=[nodetypes, journal, plugin])
        again = await dagmill.arun(document, plugins=[nodetypes, journal, plugin])
    assert first.extras["cache"] == {"hits": 0, "misses": 1}
    assert again.extras["cache"] == {"hits": 1, "misses": 0}
    assert registry.get_sample_value("dagmill_cache_hits_total", {"workflow": "cached"}) == 1
    assert registry.get_sample_value("dagmill_cache_misses_total", {"workflow": "cached"}) == 1


def test_no_cache_metrics_without_a_journal() -> None:
    registry = CollectorRegistry()
    dagmill.run(DOC, plugins=[nodetypes, MetricsPlugin(registry)], fail_policy="continue", handle_signals=False)
    assert "dagmill_cache_hits_total{" not in generate_latest(registry).decode()


def test_docs_list_every_exported_metric_and_no_other() -> None:
    registry = CollectorRegistry()
    MetricsPlugin(registry)
    exported = {family.name + ("_total" if family.type == "counter" else "") for family in registry.collect()}
    table = re.findall(r"^\| `(dagmill_[a-z_]+)` \|", DOCS.read_text(), flags=re.MULTILINE)
    assert len(table) == len(set(table))
    assert set(table) == exported
