"""Progress on vs off: a 10,000-node and a 100,000-node no-op run with the display drawing to a terminal.

    python benchmarks/progress_overhead.py

The display is forced on (a terminal console writing to /dev/null) and
redraws four times a second from rich's thread, as it does for users.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path

from rich.console import Console

sys.path.insert(0, str(Path(__file__).parent))

import dagmill  # noqa: E402
import shapes  # noqa: E402
from dagmill.plugins.progress import ProgressDisplay  # noqa: E402
from run import REGISTRY, workflow  # noqa: E402


def per_node(wf: dagmill.Workflow, plugins: list[object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        dagmill.run(wf, scheduler="ready", max_concurrency=16, registry=REGISTRY, plugins=plugins, handle_signals=False)
        best = min(best, time.perf_counter() - start)
    return best / len(wf.nodes) * 1e6


def main() -> None:
    display = ProgressDisplay(Console(file=open(os.devnull, "w"), force_terminal=True, width=120))
    print("| nodes | off (µs/node) | on (µs/node) | overhead |")
    print("|---:|---:|---:|---:|")
    for n, repeats in ((10_000, 7), (100_000, 3)):
        wf = workflow(shapes.layered(n))
        per_node(wf, [display], 1)
        off, on = per_node(wf, [], repeats), per_node(wf, [display], repeats)
        print(f"| {n:,} | {off:.2f} | {on:.2f} | {(on / off - 1) * 100:+.1f}% |")


if __name__ == "__main__":
    main()
