"""Metrics on vs off: per-node cost of the metrics plugin on 10,000 no-op nodes.

    python benchmarks/metrics_overhead.py

Both sides run the same loaded workflow (layered, width 100) with the
``ready`` and ``level`` schedulers; the plugin side passes one
``MetricsPlugin`` (on its own registry) to every run, as an embedding
program does, and renders the exposition after each run, as a scrape would.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

sys.path.insert(0, str(Path(__file__).parent))

import dagmill  # noqa: E402
import shapes  # noqa: E402
from dagmill.plugins.metrics import MetricsPlugin  # noqa: E402
from run import REGISTRY, workflow  # noqa: E402

N = 10_000


def per_node(wf: dagmill.Workflow, scheduler: str, metrics: bool) -> float:
    best = float("inf")
    plugins = [MetricsPlugin(CollectorRegistry())] if metrics else []
    for _ in range(5):
        gc.collect()
        start = time.perf_counter()
        dagmill.run(wf, scheduler=scheduler, max_concurrency=16, registry=REGISTRY, plugins=plugins, handle_signals=False)
        if metrics:
            generate_latest(plugins[0].registry)
        best = min(best, time.perf_counter() - start)
    return best / N * 1e6


def main() -> None:
    wf = workflow(shapes.layered(N))
    print("| scheduler | off (µs/node) | on (µs/node) | overhead |")
    print("|---|---:|---:|---:|")
    for scheduler in ("level", "ready"):
        off, on = per_node(wf, scheduler, False), per_node(wf, scheduler, True)
        print(f"| {scheduler} | {off:.2f} | {on:.2f} | {(on / off - 1) * 100:+.1f}% |")


if __name__ == "__main__":
    main()
