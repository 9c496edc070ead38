"""Metrics on vs off: per-node cost of the metrics plugin on 10,000 no-op nodes.

    python benchmarks/metrics_overhead.py [--repeat N]

Both sides run the same loaded workflow (layered, width 100) with the
``level`` and ``ready`` schedulers; the plugin side passes one
``MetricsPlugin`` (on its own registry) to every run, as an embedding
program does, and renders the exposition after each run, as a scrape would.
Runs with metrics off and on alternate, so a machine that gets busier or
quieter meanwhile weighs on both sides alike; each side reports its best run.
"""

from __future__ import annotations

import argparse
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


def timed(wf: dagmill.Workflow, scheduler: str, plugin: MetricsPlugin | None) -> float:
    """Seconds for one run (and, with ``plugin``, one rendering of its exposition)."""
    gc.collect()
    start = time.perf_counter()
    dagmill.run(wf, scheduler=scheduler, max_concurrency=16, registry=REGISTRY, plugins=[plugin] if plugin else [], handle_signals=False)
    if plugin is not None:
        generate_latest(plugin.registry)
    return time.perf_counter() - start


def per_node(wf: dagmill.Workflow, scheduler: str, repeat: int) -> tuple[float, float]:
    """Best µs per node with metrics off and on, over ``repeat`` alternating pairs of runs (after one unmeasured pair)."""
    plugin = MetricsPlugin(CollectorRegistry())
    off, on = [], []
    for _ in range(repeat + 1):
        off.append(timed(wf, scheduler, None))
        on.append(timed(wf, scheduler, plugin))
    return min(off[1:]) / N * 1e6, min(on[1:]) / N * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7, metavar="N", help="measured runs per side and scheduler (default: 7)")
    options = parser.parse_args()
    wf = workflow(shapes.layered(N))
    print("| scheduler | off (µs/node) | on (µs/node) | overhead |")
    print("|---|---:|---:|---:|")
    for scheduler in ("level", "ready"):
        off, on = per_node(wf, scheduler, options.repeat)
        print(f"| {scheduler} | {off:.2f} | {on:.2f} | {(on / off - 1) * 100:+.1f}% |")


if __name__ == "__main__":
    main()
