"""Executors, measured: a CPU-bound fan-out, and the dask executor against dask's own ``client.get``.

    python benchmarks/executors.py [--repeat N]

1. The same workflow on ``inline``, ``thread`` and ``process``: one root
   fanned out to eight CPU-bound nodes, each ``t.spin`` (the sum of the
   squares below 30 million in a generator expression: pure-Python bytecode
   that holds the GIL throughout, ~2 s on this project's machine). Each
   run is timed around ``dagmill.run`` in a fresh interpreter, as
   ``dagmill run`` would do it, so the process pool's start-up counts every
   time; the executors take turns, N rounds, and the table gives medians
   (also of each round's ratios, which a load that drifts disturbs less).
   The same workflow with ``rounds`` 0 (no work) gives each executor's fixed
   cost, which for ``process`` is starting its workers.
2. The same graphs of no-op tasks through the ``dask`` executor and through
   ``client.get`` on one LocalCluster, at two sizes: the cost per task is the
   slope between the medians at each size, so fixed costs (connecting a
   client, starting a run) do not count.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).parent))

import dagmill  # noqa: E402
import nodetypes  # noqa: E402
import shapes  # noqa: E402

ROUNDS = 30_000_000


def fan_out(executor: str, rounds: int = ROUNDS) -> dict[str, Any]:
    nodes = [{"id": "root", "type": "t.value", "params": {"value": 1}}]
    nodes += [{"id": f"cpu{k}", "type": "t.spin", "params": {"rounds": rounds and rounds + k}, "executor": executor} for k in range(8)]
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


def fan_out_once(executor: str, rounds: int) -> float:
    """Seconds of one fan-out run on ``executor``, in a fresh interpreter."""
    command = [sys.executable, __file__, "--fan-out-once", executor, str(rounds)]
    return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def main(repeat: int) -> None:
    names = ("inline", "thread", "process")
    load = os.getloadavg()[0]
    runs: dict[str, list[float]] = {name: [] for name in names}
    idle: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(repeat):
        for name in names:
            runs[name].append(fan_out_once(name, ROUNDS))
            idle[name].append(fan_out_once(name, 0))
    times = {name: statistics.median(seconds) for name, seconds in runs.items()}
    print(f"CPU-bound fan-out of 8 nodes on {os.cpu_count()} cores (seconds, median of {repeat}; load average before: {load:.2f}):\n")
    print("| executor | median | min | max | process speed-up over it (medians) | same, median of per-round ratios | fixed cost (no work, median) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        fixed = statistics.median(idle[name])
        paired = statistics.median(a / b for a, b in zip(runs[name], runs["process"], strict=True))
        print(f"| {name} | {times[name]:.2f} | {min(runs[name]):.2f} | {max(runs[name]):.2f} | {times[name] / times['process']:.2f}x | {paired:.2f}x | {fixed:.2f} |")

    import distributed

    sizes = (200, 1000)
    limits = (0, 8)
    direct: dict[int, list[float]] = {n: [] for n in sizes}
    engine: dict[tuple[int, int], list[float]] = {(k, n): [] for k in limits for n in sizes}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster:
        with distributed.Client(cluster) as client:
            settings = {"dask_scheduler": cluster.scheduler_address}
            for n in sizes:
                deps, document = noop_graph(n)
                graph = {node: (_noop, *preds) for node, preds in deps.items()}
                client.get(graph, list(deps))
                timed(document, settings=settings, scheduler="ready", max_concurrency=0)
                for _ in range(repeat):
                    direct[n].append(_direct(client, graph, deps))
                    for k in limits:
                        engine[k, n].append(timed(document, settings=settings, scheduler="ready", max_concurrency=k))
    span = sizes[1] - sizes[0]

    def slope(medians: tuple[float, float]) -> float:
        return (medians[1] - medians[0]) / span * 1000

    get = tuple(statistics.median(direct[n]) for n in sizes)
    per_task = slope(get)  # type: ignore[arg-type]
    print(f"\nDask: no-op tasks (layered, width 20, fan-in 2) on a 2-worker LocalCluster, {sizes[0]} and {sizes[1]} tasks (median of {repeat}):\n")
    print(f"| how | seconds at {sizes[0]} | seconds at {sizes[1]} | ms per task (slope) | vs client.get |")
    print("|---|---:|---:|---:|---:|")
    print(f"| client.get (the whole graph at once) | {get[0]:.2f} | {get[1]:.2f} | {per_task:.2f} | 1.00x |")
    for k in limits:
        medians = tuple(statistics.median(engine[k, n]) for n in sizes)
        cost = slope(medians)  # type: ignore[arg-type]
        print(f"| dagmill, dask executor, ready, max concurrency {k or 'unlimited'} | {medians[0]:.2f} | {medians[1]:.2f} | {cost:.2f} | {cost / per_task:.2f}x |")
    print(f"\nLoad average after: {os.getloadavg()[0]:.2f}")


def _direct(client: Any, graph: dict[str, Any], deps: shapes.Deps) -> float:
    start = time.perf_counter()
    client.get(graph, list(deps))
    return time.perf_counter() - start


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per contender (default 5)")
    parser.add_argument("--fan-out-once", nargs=2, metavar=("EXECUTOR", "ROUNDS"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.fan_out_once:
        executor, rounds = arguments.fan_out_once
        print(timed(fan_out(executor, int(rounds))))
    else:
        main(arguments.repeat)
