"""Journal on vs off: per-node cost of the run journal on 10,000 nodes, no-op and 1 ms.

    python benchmarks/journal_overhead.py

Both sides run the same loaded workflow (layered, width 100) with the
``level`` and ``ready`` schedulers, best of five. The journal side passes one
``Journal`` on a fresh file per repeat, as ``dagmill run`` does by default,
and its time includes writing the last batch when the run ends. The columns
split the cost: the engine's fingerprints (which any journal needs: resume
and the cache key on them), measured alone, and the journal's own share.
The second table repeats it with nodes that sleep 1 ms, where the writer
thread works while the trio thread waits.
"""

from __future__ import annotations

import gc
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
REPEATS = 5


class Fingerprints:
    """Has the engine compute every node's fingerprint, as a journal needs, and does nothing else."""

    @dagmill.hookimpl
    def dagmill_node_end(self, run: dagmill.Run, node: dagmill.Node) -> None:
        run.fingerprint(run.graph.index[node.id])


def per_node(wf: dagmill.Workflow, scheduler: str, side: str) -> float:
    """Best wall time per node, in µs, of ``side``: ``off``, ``fingerprints`` or ``journal``."""
    best = float("inf")
    with tempfile.TemporaryDirectory() as scratch:
        for k in range(REPEATS):
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
            elapsed = time.perf_counter() - start
            assert result.ok, result.counts()
            if journal is not None:
                journal.close()
            best = min(best, elapsed)
    return best / N * 1e6


def sleepers(deps: shapes.Deps, seconds: float) -> dagmill.Workflow:
    """Nodes that sleep ``seconds``, with no ``estimate`` (an estimate would arm stall detection at 3x it)."""
    nodes = [{"id": node, "type": "bench.sleep", "params": {"seconds": seconds}} for node in deps]
    edges = [{"source": p, "target": node} for node, preds in deps.items() for p in preds]
    return dagmill.load({"name": "bench", "nodes": nodes, "edges": edges}, registry=REGISTRY)


def table(title: str, wf: dagmill.Workflow) -> None:
    print(f"{title}: {N} nodes, layered (width 100), max concurrency 16, best of {REPEATS}")
    print()
    print("| scheduler | no journal (µs/node) | journal (µs/node) | overhead | of which fingerprints (µs/node) | journal's own (µs/node) |")
    print("|---|---:|---:|---:|---:|---:|")
    for scheduler in ("level", "ready"):
        off = per_node(wf, scheduler, "off")
        prints = per_node(wf, scheduler, "fingerprints")
        on = per_node(wf, scheduler, "journal")
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
