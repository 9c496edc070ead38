"""Prometheus metrics: per-level latency and concurrency, per-node-type durations and queue waits, runs, pools, the cache.

The plugin implements only run and level hooks, never a per-node one. A
closed level is noted, and its nodes' results are folded into bucket counts
and counters when the metrics are read (a scrape) or the run ends, so the run
loop pays for neither in between; live gauges (concurrency, nodes in flight,
pools in use) are read from the runs in progress. Labels are bounded: ``workflow``,
``scheduler``, ``node_type``, ``outcome``, ``pool`` — never a node id, a run
id or a level number.

Embedded use, with your own registry::

    from prometheus_client import CollectorRegistry
    from dagmill.plugins.metrics import MetricsPlugin

    registry = CollectorRegistry()
    dagmill.run(workflow, plugins=[MetricsPlugin(registry)])

One plugin object serves any number of runs, one after the other or at once.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import math
import operator
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, push_to_gateway, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

import dagmill

SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
NODES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)


class Histogram:
    """Bucket counts and a sum for one label set; callers hold the plugin's lock.

    ``counts[k]`` counts the observations of bucket ``k`` alone — above bound
    ``k - 1``, at most bound ``k`` — and the last slot those above every
    bound; the exposition's cumulative counts are summed at scrape time.
    """

    __slots__ = ("bounds", "les", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.les = [*map(str, bounds), "+Inf"]
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count one observation."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def observe_sorted(self, values: list[float]) -> None:
        """Count ``values``, sorted ascending: one bisection per bucket they span, not one per value."""
        if not values:
            return
        bounds, counts = self.bounds, self.counts
        first, last = bisect.bisect_left(bounds, values[0]), bisect.bisect_left(bounds, values[-1])
        below = 0
        for k in range(first, last):
            at = bisect.bisect_right(values, bounds[k], below)
            counts[k] += at - below
            below = at
        counts[last] += len(values) - below
        self.total += sum(values)

    def buckets(self) -> list[tuple[str, int]]:
        """``(le, cumulative count)`` pairs, ``+Inf`` last."""
        return list(zip(self.les, itertools.accumulate(self.counts), strict=True))


class _NodeStats:
    """Everything counted for one (workflow, node type, outcome)."""

    __slots__ = ("nodes", "attempts", "retries", "duration", "wait")

    def __init__(self) -> None:
        self.nodes = 0
        self.attempts = 0
        self.retries = 0
        self.duration = Histogram(SECONDS)
        self.wait = Histogram(SECONDS)

    def fold(self, ended: Sequence[dagmill.NodeResult]) -> None:
        """Count ``ended``, final records of nodes of this type and outcome."""
        self.nodes += len(ended)
        attempts = [result.attempts for result in ended]
        made = sum(attempts)
        self.attempts += made
        self.retries += made - (len(attempts) - attempts.count(0))
        try:
            durations = [result.ended_at - result.started_at for result in ended]  # type: ignore[operator]
            waits = [result.started_at - result.ready_at for result in ended]  # type: ignore[operator]
        except TypeError:  # some never started (skipped, cancelled before their start): they have neither figure
            started = [result for result in ended if result.started_at is not None]
            durations = [result.ended_at - result.started_at for result in started]  # type: ignore[operator]
            waits = [result.started_at - result.ready_at for result in started]  # type: ignore[operator]
        durations.sort()
        waits.sort()
        self.duration.observe_sorted(durations)
        self.wait.observe_sorted(waits)


class _RunState:
    """A run in progress: per level, a getter of its nodes' results and its one node type (``None``: mixed).

    ``closed`` lists the levels closed since the last fold; ``folded`` marks
    the levels counted, each exactly once, whoever folds it first.
    """

    __slots__ = ("run", "levels", "folded", "closed", "level_duration", "level_width", "level_peak")

    def __init__(self, run: dagmill.Run, level_duration: Histogram, level_width: Histogram, level_peak: Histogram) -> None:
        self.run = run
        nodes = run.workflow.nodes
        self.levels: list[tuple[Callable[[Sequence[Any]], tuple[Any, ...]], str | None]] = []
        for indices in run.graph.levels:
            kinds = {nodes[i].type for i in indices}
            self.levels.append((_getter(indices), kinds.pop() if len(kinds) == 1 else None))
        self.folded = bytearray(len(run.graph.levels))
        self.closed: list[int] = []
        self.level_duration, self.level_width, self.level_peak = level_duration, level_width, level_peak


def _getter(indices: Sequence[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """The items at ``indices`` of a sequence, as a tuple (``itemgetter`` gives a lone item bare)."""
    if len(indices) == 1:
        i = indices[0]
        return lambda items: (items[i],)
    return operator.itemgetter(*indices)


class MetricsPlugin(Collector):
    """Collects dagmill's metrics into ``registry`` (a new ``CollectorRegistry`` if none is given)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._lock = threading.Lock()
        self._runs: dict[str, _RunState] = {}
        self._nodes: dict[str, dict[tuple[str, dagmill.Status], _NodeStats]] = {}
        self._histograms: dict[tuple[str, tuple[str, ...]], Histogram] = {}
        self._counters: dict[tuple[str, tuple[str, ...]], float] = {}
        self._max_concurrency: dict[tuple[str, str], int] = {}
        self.registry.register(self)

    # -- hooks ------------------------------------------------------------------------

    @dagmill.hookimpl
    def dagmill_run_start(self, run: dagmill.Run) -> None:
        labels = (run.workflow.name, run.options.scheduler)
        with self._lock:
            levels = [self._histogram(name, labels, bounds) for name, bounds in _LEVEL_HISTOGRAMS]
        state = _RunState(run, *levels)  # a pass over the graph: not while a scrape may wait for the lock
        with self._lock:
            self._runs[run.run_id] = state
            self._max_concurrency[labels] = run.max_concurrency

    @dagmill.hookimpl
    def dagmill_level_end(self, run: dagmill.Run, level: dagmill.LevelResult) -> None:
        with self._lock:
            state = self._runs[run.run_id]
            if level.duration is not None:
                state.level_duration.observe(level.duration)
            state.level_width.observe(level.width)
            state.level_peak.observe(level.peak_concurrency)
            state.closed.append(level.level)

    @dagmill.hookimpl
    def dagmill_node_stalled(self, run: dagmill.Run, node: dagmill.Node) -> None:
        with self._lock:
            self._count("nodes_stalled", (run.workflow.name, node.type))

    @dagmill.hookimpl(trylast=True)  # after the journal has put its cache figures in the result's extras
    def dagmill_run_end(self, run: dagmill.Run, result: dagmill.RunResult) -> None:
        labels = (result.workflow, result.scheduler, result.status.value)
        cache = result.extras.get("cache")
        with self._lock:
            state = self._runs.pop(run.run_id)
            for depth in range(len(state.folded)):
                self._fold(state, depth)
            self._count("runs", labels)
            self._histogram("run_duration_seconds", labels, SECONDS).observe(result.duration)
            if cache is not None:
                self._count("cache_hits", (result.workflow,), cache["hits"])
                self._count("cache_misses", (result.workflow,), cache["misses"])

    def _fold_closed(self) -> None:
        """Count the levels closed since the last fold, holding the lock one level at a time so the run loop never waits long."""
        with self._lock:
            closed = [(state, depth) for state in self._runs.values() for depth in state.closed]
            for state in self._runs.values():
                state.closed.clear()
        for state, depth in closed:
            with self._lock:
                self._fold(state, depth)

    def _fold(self, state: _RunState, depth: int) -> None:
        """Count the nodes of level ``depth`` (all ended) by node type and final status, unless counted already."""
        if state.folded[depth]:
            return
        state.folded[depth] = 1
        run = state.run
        getter, node_type = state.levels[depth]
        ended: tuple[dagmill.NodeResult, ...] = getter(run.results())
        statuses = [result.status for result in ended]
        if node_type is not None and statuses.count(statuses[0]) == len(statuses):
            # the common case, a level of one type and one outcome: whole-list operations, no per-node branches
            groups: dict[tuple[str, dagmill.Status], Sequence[dagmill.NodeResult]] = {(node_type, statuses[0]): ended}
        else:
            groups = {}
            nodes = run.workflow.nodes
            for i, result, status in zip(run.graph.levels[depth], ended, statuses, strict=True):
                groups.setdefault((nodes[i].type, status), []).append(result)  # type: ignore[attr-defined]
        stats = self._nodes.setdefault(run.workflow.name, {})
        for key, group in groups.items():
            found = stats.get(key)
            if found is None:
                found = stats[key] = _NodeStats()
            found.fold(group)

    def _histogram(self, name: str, labels: tuple[str, ...], bounds: Sequence[float]) -> Histogram:
        key = (name, labels)
        histogram = self._histograms.get(key)
        if histogram is None:
            histogram = self._histograms[key] = Histogram(bounds)
        return histogram

    def _count(self, name: str, labels: tuple[str, ...], amount: float = 1) -> None:
        key = (name, labels)
        self._counters[key] = self._counters.get(key, 0) + amount

    # -- exposition ----------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """Render every metric (called by prometheus_client at scrape time, from its thread)."""
        self._fold_closed()
        with self._lock:
            histograms = {key: (h.buckets(), h.total) for key, h in self._histograms.items()}
            counters = dict(self._counters)
            for workflow, by_kind in self._nodes.items():
                for (node_type, status), stats in by_kind.items():
                    labels = (workflow, node_type, status.value)
                    _add(counters, ("nodes", (workflow, status.value)), stats.nodes)
                    _add(counters, ("node_attempts", labels), stats.attempts)
                    _add(counters, ("node_retries", (workflow, node_type)), stats.retries)
                    histograms[("node_duration_seconds", labels)] = (stats.duration.buckets(), stats.duration.total)
                    histograms[("node_queue_wait_seconds", labels)] = (stats.wait.buckets(), stats.wait.total)
            runs = [state.run for state in self._runs.values()]
            limits = dict(self._max_concurrency)
        for name, help_text, labels in _HISTOGRAMS:
            family = HistogramMetricFamily(f"dagmill_{name}", help_text, labels=labels)
            for (key, values), (buckets, total) in histograms.items():
                if key == name:
                    family.add_metric(list(values), buckets, total)
            yield family
        for name, help_text, labels in _COUNTERS:
            family = CounterMetricFamily(f"dagmill_{name}", help_text, labels=labels)
            for (key, values), value in counters.items():
                if key == name:
                    family.add_metric(list(values), value)
            yield family
        yield from self._gauges(runs, limits)

    def _gauges(self, runs: list[dagmill.Run], limits: dict[tuple[str, str], int]) -> Iterator[Metric]:
        concurrency = GaugeMetricFamily("dagmill_concurrency", "Nodes running now.", labels=["workflow", "scheduler"])
        open_levels = GaugeMetricFamily("dagmill_levels_open", "Graph levels with nodes started and not all ended.", labels=["workflow", "scheduler"])
        in_progress = GaugeMetricFamily("dagmill_runs_in_progress", "Runs going on now.", labels=["workflow", "scheduler"])
        in_flight = GaugeMetricFamily("dagmill_nodes_in_flight", "Nodes running now, by node type.", labels=["workflow", "node_type"])
        capacity = GaugeMetricFamily("dagmill_pool_capacity", "Tokens of a resource pool.", labels=["workflow", "pool"])
        in_use = GaugeMetricFamily("dagmill_pool_in_use", "Tokens of a resource pool lent to running nodes.", labels=["workflow", "pool"])
        limit = GaugeMetricFamily("dagmill_max_concurrency", "The concurrency limit of the latest run (0: none).", labels=["workflow", "scheduler"])
        sums: dict[tuple[str, ...], dict[tuple[str, ...], float]] = {"c": {}, "o": {}, "r": {}, "f": {}, "cap": {}, "use": {}}
        for run in runs:
            workflow, scheduler = run.workflow.name, run.options.scheduler
            stats = run.statistics()
            running = run.running()
            _add(sums["c"], (workflow, scheduler), stats.running)
            _add(sums["r"], (workflow, scheduler), 1)
            levels = {run.graph.level[i] for i in running}
            _add(sums["o"], (workflow, scheduler), len(levels))
            for i in running:
                _add(sums["f"], (workflow, run.workflow.nodes[i].type), 1)
            for pool in stats.pools:
                _add(sums["cap"], (workflow, pool.name), pool.capacity)
                _add(sums["use"], (workflow, pool.name), pool.borrowed)
        for family, key in ((concurrency, "c"), (open_levels, "o"), (in_progress, "r"), (in_flight, "f"), (capacity, "cap"), (in_use, "use")):
            for labels, value in sums[key].items():
                family.add_metric(list(labels), value)
            yield family
        for (workflow, scheduler), value in limits.items():
            limit.add_metric([workflow, scheduler], value)
        yield limit


def _add(table: dict[Any, float], key: Any, value: float) -> None:
    table[key] = table.get(key, 0) + value


_LEVEL_HISTOGRAMS = (("level_duration_seconds", SECONDS), ("level_width", NODES), ("level_peak_concurrency", NODES))
_HISTOGRAMS = (
    ("level_duration_seconds", "Time from the first start to the last end of a graph level's nodes.", ["workflow", "scheduler"]),
    ("level_width", "Nodes per graph level.", ["workflow", "scheduler"]),
    ("level_peak_concurrency", "Most nodes of one level running at once.", ["workflow", "scheduler"]),
    ("node_duration_seconds", "Time from a node's start to its end (all attempts).", ["workflow", "node_type", "outcome"]),
    ("node_queue_wait_seconds", "Time from a node being ready to it starting.", ["workflow", "node_type", "outcome"]),
    ("run_duration_seconds", "Time a run took.", ["workflow", "scheduler", "outcome"]),
)
_COUNTERS = (
    ("runs", "Runs ended, by outcome.", ["workflow", "scheduler", "outcome"]),
    ("nodes", "Nodes ended, by final status.", ["workflow", "outcome"]),
    ("node_attempts", "Attempts made by nodes, by the node's final status.", ["workflow", "node_type", "outcome"]),
    ("node_retries", "Attempts after the first.", ["workflow", "node_type"]),
    ("nodes_stalled", "Nodes reported stalled (no heartbeat past stall_after).", ["workflow", "node_type"]),
    ("cache_hits", "Cacheable nodes whose output the journal's cache had (runs with a journal).", ["workflow"]),
    ("cache_misses", "Cacheable nodes the journal's cache could not answer, so they ran.", ["workflow"]),
)


# -- the command line ----------------------------------------------------------------------


class _Serving:
    """What ``dagmill run`` set up for metrics: the plugin, the HTTP server, the options."""

    def __init__(self, plugin: MetricsPlugin, server: Any | None, options: argparse.Namespace) -> None:
        self.plugin, self.server, self.options = plugin, server, options


_serving: list[_Serving] = []

MAX_LINGER = 86_400.0
"""Seconds: the longest ``--metrics-linger`` (a day; enough for any last scrape, and far below what a sleep can take)."""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return port


def _linger(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= MAX_LINGER:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"expected a number of seconds from 0 to {MAX_LINGER:g}, got {text!r}")
    return seconds


def _gateway(text: str) -> str:
    """A URL ``push_to_gateway`` can use (it puts ``http://`` in front of one without an http or https scheme)."""
    try:
        parts = urlsplit(text if urlsplit(text).scheme in ("http", "https") else f"http://{text}")
        host, _ = parts.hostname, parts.port  # port: ValueError unless a number from 0 to 65535
    except ValueError:
        host = None
    if not host:
        raise argparse.ArgumentTypeError(f"expected the pushgateway's URL (http://HOST:PORT), got {text!r}")
    return text


@dagmill.hookimpl
def dagmill_addoption(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics-port", type=_port, metavar="PORT", help="serve Prometheus metrics on this port during the run")
    parser.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST", help="address to serve metrics on (default: 127.0.0.1)")
    parser.add_argument(
        "--metrics-linger", type=_linger, default=0.0, metavar="SECONDS", help=f"keep serving metrics this long after the run (at most {MAX_LINGER:g})"
    )
    parser.add_argument("--pushgateway", type=_gateway, metavar="URL", help="push the metrics to a Prometheus pushgateway when the run ends")


@dagmill.hookimpl
def dagmill_configure(options: argparse.Namespace, registry: dagmill.Registry) -> None:
    if options.metrics_port is None and not options.pushgateway:
        return
    plugin = MetricsPlugin()
    server = None
    if options.metrics_port is not None:
        try:
            server, _ = start_http_server(options.metrics_port, addr=options.metrics_host, registry=plugin.registry)
        except OSError as exc:
            where = f"{options.metrics_host}:{options.metrics_port}"
            raise dagmill.UsageError(f"--metrics-port: cannot serve metrics on {where}: {exc.strerror or exc}") from None
        except UnicodeError as exc:  # from the IDNA encoding of a name with an empty or too long label
            raise dagmill.UsageError(f"--metrics-host {options.metrics_host}: not a host name ({exc})") from None
    registry.pm.register(plugin)
    _serving.append(_Serving(plugin, server, options))


@dagmill.hookimpl
def dagmill_unconfigure(options: argparse.Namespace, result: dagmill.RunResult | None) -> None:
    while _serving:
        serving = _serving.pop()
        if serving.options.pushgateway and result is not None:
            try:
                push_to_gateway(serving.options.pushgateway, job="dagmill", grouping_key={"workflow": result.workflow}, registry=serving.plugin.registry)
            except Exception as exc:  # a failed push is a warning, never a failed run
                print(f"dagmill: warning: could not push metrics to {serving.options.pushgateway}: {exc}", file=sys.stderr)
        if serving.server is not None:
            if serving.options.metrics_linger:
                print(f"dagmill: serving metrics for {serving.options.metrics_linger:g}s more", file=sys.stderr)
                time.sleep(serving.options.metrics_linger)  # the point: let a last scrape collect the final values
            serving.server.shutdown()
