"""Executors, measured: a CPU-bound fan-out, and the dask executor against dask's own ``client.get``.

    python benchmarks/executors.py

1. Eight CPU-bound nodes (pure-Python loops, ~0.4 s each) fanned out from one
   root on this machine: ``inline`` and ``thread`` hold the GIL, ``process``
   uses every core.
2. The same graphs of no-op tasks through the ``dask`` executor and through
   ``client.get`` on one LocalCluster, at two sizes: the cost per task is the
   slope between them, so fixed costs (connecting a client, starting a run)
   do not count.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).parent))

import dagmill  # noqa: E402
import nodetypes  # noqa: E402
import shapes  # noqa: E402

ROUNDS = 12_000_000


def fan_out(executor: str) -> dict[str, Any]:
    nodes = [{"id": "root", "type": "t.value", "params": {"value": 1}}]
    nodes += [{"id": f"cpu{k}", "type": "t.spin", "params": {"rounds": ROUNDS + k}, "executor": executor} for k in range(8)]
    return {"nodes": nodes, "edges": [{"source": "root", "target": f"cpu{k}"} for k in range(8)]}


def timed(document: dict[str, Any], **options: Any) -> float:
    gc.collect()
    options.setdefault("max_concurrency", 8)
    start = time.perf_counter()
    result = dagmill.run(document, plugins=[nodetypes], handle_signals=False, **options)
    assert result.ok, result.counts()
    return time.perf_counter() - start


def noop_graph(n: int) -> tuple[shapes.Deps, dict[str, Any]]:
    deps = shapes.layered(n, width=20, fan_in=2)
    document = {
        "nodes": [{"id": node, "type": "t.noop", "executor": "dask"} for node in deps],
        "edges": [{"source": p, "target": node} for node, preds in deps.items() for p in preds],
    }
    return deps, document


def _noop(*inputs: Any) -> None:
    return None


def main() -> None:
    print(f"CPU-bound fan-out of 8 nodes on {os.cpu_count()} cores (seconds, best of 2):\n")
    print("| executor | seconds | process speed-up over it |")
    print("|---|---:|---:|")
    times = {name: min(timed(fan_out(name)) for _ in range(2)) for name in ("inline", "thread", "process")}
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.2f} | {seconds / times['process']:.2f}x |")

    import distributed

    sizes = (200, 1000)
    direct: list[float] = []
    engine: dict[int, list[float]] = {0: [], 8: []}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster:
        with distributed.Client(cluster) as client:
            settings = {"dask_scheduler": cluster.scheduler_address}
            for n in sizes:
                deps, document = noop_graph(n)
                graph = {node: (_noop, *preds) for node, preds in deps.items()}
                client.get(graph, list(deps))
                direct.append(min(_direct(client, graph, deps) for _ in range(3)))
                for k in engine:
                    timed(document, settings=settings, scheduler="ready")
                    engine[k].append(min(timed(document, settings=settings, scheduler="ready", max_concurrency=k) for _ in range(3)))
    span = sizes[1] - sizes[0]
    per_task = (direct[1] - direct[0]) / span * 1000
    print(f"\nDask: no-op tasks (layered, width 20, fan-in 2) on a 2-worker LocalCluster, {sizes[0]} and {sizes[1]} tasks (best of 3):\n")
    print(f"| how | seconds at {sizes[0]} | seconds at {sizes[1]} | ms per task (slope) | vs client.get |")
    print("|---|---:|---:|---:|---:|")
    print(f"| client.get (the whole graph at once) | {direct[0]:.2f} | {direct[1]:.2f} | {per_task:.2f} | 1.00x |")
    for k, times_k in engine.items():
        slope = (times_k[1] - times_k[0]) / span * 1000
        print(f"| dagmill, dask executor, ready, max concurrency {k or 'unlimited'} | {times_k[0]:.2f} | {times_k[1]:.2f} | {slope:.2f} | {slope / per_task:.2f}x |")


def _direct(client: Any, graph: dict[str, Any], deps: shapes.Deps) -> float:
    start = time.perf_counter()
    client.get(graph, list(deps))
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
