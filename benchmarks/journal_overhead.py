"""Journal on vs off: per-node cost of the run journal on 10,000 nodes, no-op and 1 ms.

    python benchmarks/journal_overhead.py

Both sides run the same loaded workflow (layered, width 100) with the
``level`` and ``ready`` schedulers, median of seven, the sides taking turns
round after round (so load swings hit them alike). The journal side passes one
``Journal`` on a fresh file per repeat, as ``dagmill run`` does by default,
and its time includes writing the last batch when the run ends. The columns
split the cost: the engine's fingerprints (which any journal needs: resume
and the cache key on them), measured alone, and the journal's own share.
The second table repeats it with nodes that sleep 1 ms, where the writer
thread works while the trio thread waits.
"""

from __future__ import annotations

import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import dagmill  # noqa: E402
import shapes  # noqa: E402
from dagmill.plugins.journal import Journal  # noqa: E402
from run import REGISTRY, workflow  # noqa: E402

N = 10_000
REPEATS = 7


class Fingerprints:
    """Has the engine compute every node's fingerprint, as a journal needs, and does nothing else."""

    @dagmill.hookimpl
    def dagmill_node_end(self, run: dagmill.Run, node: dagmill.Node) -> None:
        run.fingerprint(run.graph.index[node.id])


SIDES = ("off", "fingerprints", "journal")


def once(wf: dagmill.Workflow, scheduler: str, side: str, scratch: str, k: int) -> float:
    """Wall time per node, in µs, of one run of ``side``: ``off``, ``fingerprints`` or ``journal``."""
    plugins: list[object] = []
    journal = None
    if side == "journal":
        journal = Journal(Path(scratch, f"journal{k}.sqlite3"))
        plugins = [journal]
    elif side == "fingerprints":
        plugins = [Fingerprints()]
    gc.collect()
    start = time.perf_counter()
    result = dagmill.run(wf, scheduler=scheduler, max_concurrency=16, registry=REGISTRY, plugins=plugins, handle_signals=False)
    if journal is not None:
        journal.close()
    elapsed = time.perf_counter() - start
    assert result.ok, result.counts()
    return elapsed / N * 1e6


def per_node(wf: dagmill.Workflow, scheduler: str) -> dict[str, float]:
    """Median time per node of each side, the sides taking turns round after round so that load swings hit them alike."""
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory() as scratch:
        for k in range(REPEATS):
            for side in SIDES[k % 3 :] + SIDES[: k % 3]:
                times[side].append(once(wf, scheduler, side, scratch, k))
    return {side: statistics.median(values) for side, values in times.items()}


def sleepers(deps: shapes.Deps, seconds: float) -> dagmill.Workflow:
    """Nodes that sleep ``seconds``, with no ``estimate`` (an estimate would arm stall detection at 3x it)."""
    nodes = [{"id": node, "type": "bench.sleep", "params": {"seconds": seconds}} for node in deps]
    edges = [{"source": p, "target": node} for node, preds in deps.items() for p in preds]
    return dagmill.load({"name": "bench", "nodes": nodes, "edges": edges}, registry=REGISTRY)


def table(title: str, wf: dagmill.Workflow) -> None:
    print(f"{title}: {N} nodes, layered (width 100), max concurrency 16, median of {REPEATS}")
    print()
    print("| scheduler | no journal (µs/node) | journal (µs/node) | overhead | of which fingerprints (µs/node) | journal's own (µs/node) |")
    print("|---|---:|---:|---:|---:|---:|")
    for scheduler in ("level", "ready"):
        median = per_node(wf, scheduler)
        off, prints, on = median["off"], median["fingerprints"], median["journal"]
        print(
            f"| {scheduler} | {off:.2f} | {on:.2f} | {(on / off - 1) * 100:+.0f}% | {prints - off:.2f} | {on - prints:.2f} |"
        )
    print()


def main() -> None:
    deps = shapes.layered(N)
    table("no-op nodes", workflow(deps))
    table("1 ms nodes", sleepers(deps, 0.001))


if __name__ == "__main__":
    main()
