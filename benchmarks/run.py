"""dagmill's benchmarks against its peers, in one process run; prints markdown tables.

    python benchmarks/run.py            # everything (a few minutes on 2 cores)
    python benchmarks/run.py --quick    # 1k and 10k only, fewer repeats
    python benchmarks/run.py --write docs/performance.md

Figures are ratios against peers measured in the same run, never absolute
promises: per-node overhead on no-op nodes, makespan over its lower bound
``max(critical path, total work / k)``, memory per node, load time.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import platform
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import trio

sys.path.insert(0, str(Path(__file__).parent))

import dagmill  # noqa: E402
import peers  # noqa: E402
import shapes  # noqa: E402

try:
    import dask
    import dask.threaded
except ImportError:  # dask is a benchmark-only peer: pip install -e '.[bench]'
    dask = None

K = 16


@attrs.frozen
class SleepParams:
    seconds: float = 0.0


@dagmill.node_type("bench.noop")
def noop(params: None, inputs: Any, ctx: dagmill.NodeContext) -> None:
    """Do nothing."""


@dagmill.node_type("bench.sleep", params=SleepParams)
async def sleep(params: SleepParams, inputs: Any, ctx: dagmill.NodeContext) -> None:
    """Sleep on trio's clock."""
    await trio.sleep(params.seconds)


class BenchNodes:
    @dagmill.hookimpl
    def dagmill_node_types(self) -> list[dagmill.NodeType]:
        return [noop, sleep]


REGISTRY = dagmill.Registry.discover([BenchNodes()])


def workflow(deps: shapes.Deps, durations: dict[str, float] | None = None, unit: float = 0.0) -> dagmill.Workflow:
    nodes = []
    for node in deps:
        if durations is None:
            nodes.append({"id": node, "type": "bench.noop"})
        else:
            seconds = durations[node] * unit
            nodes.append({"id": node, "type": "bench.sleep", "params": {"seconds": seconds}, "estimate": seconds})
    edges = [{"source": p, "target": node} for node, preds in deps.items() for p in preds]
    return dagmill.load({"name": "bench", "nodes": nodes, "edges": edges}, registry=REGISTRY)


def best(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


async def _noop_async(node: str, inputs: list[Any]) -> None:
    return None


def _noop_sync(*inputs: Any) -> None:
    return None


def engine(wf: dagmill.Workflow, scheduler: str, k: int) -> Callable[[], Any]:
    def go() -> None:
        result = dagmill.run(wf, scheduler=scheduler, max_concurrency=k, registry=REGISTRY, handle_signals=False)
        assert result.ok, result.counts()

    return go


def overhead_contenders(deps: shapes.Deps, wf: dagmill.Workflow, k: int) -> dict[str, Callable[[], Any]]:
    priority = {node: wf.graph.remaining[wf.graph.index[node]] for node in deps}
    contenders: dict[str, Callable[[], Any]] = {
        "plain loop (graphlib)": lambda: peers.plain_loop(deps, lambda inputs: None),
        "dagmill sequential": engine(wf, "sequential", k),
        "dagmill level": engine(wf, "level", k),
        "dagmill ready": engine(wf, "ready", k),
        "naive trio loop": lambda: trio.run(peers.naive_trio, deps, _noop_async, k),
        "lean trio loop": lambda: trio.run(peers.lean_trio, deps, _noop_async, k, priority),
        "level-barrier loop (seeds)": lambda: trio.run(peers.level_barrier, deps, _noop_async, k),
    }
    if dask is not None:
        graph = peers.dask_graph(deps, _noop_sync)
        keys = list(deps)
        contenders["dask.get (sync)"] = lambda: dask.get(graph, keys)
        contenders["dask.threaded.get"] = lambda: dask.threaded.get(graph, keys, num_workers=k)
    return contenders


def bench_overhead(sizes: Sequence[int], repeats: int) -> list[str]:
    rows: dict[str, list[float]] = {}
    for n in sizes:
        deps = shapes.layered(n)
        wf = workflow(deps)
        for name, fn in overhead_contenders(deps, wf, K).items():
            rows.setdefault(name, []).append(best(fn, repeats if n < 100_000 else max(1, repeats - 1)) / n * 1e6)
    lines = [
        f"Per-node overhead on no-op nodes (µs per node, best of {repeats}; layered DAG, width 100, fan-in 2, k = {K}):",
        "",
        "| contender | " + " | ".join(f"{n:,} nodes" for n in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    lines += [f"| {name} | " + " | ".join(f"{v:.1f}" for v in values) + " |" for name, values in rows.items()]
    peer_names = [p for p in ("plain loop (graphlib)", "naive trio loop", "lean trio loop", "dask.threaded.get") if p in rows]
    lines += [
        "",
        "The same as ratios, dagmill over each peer at each size (below 1 is faster than the peer):",
        "",
        "| dagmill | peer | " + " | ".join(f"{n:,}" for n in sizes) + " |",
        "|---|---|" + "---:|" * len(sizes),
    ]
    for scheduler in ("sequential", "level", "ready"):
        ours = rows[f"dagmill {scheduler}"]
        for peer in peer_names:
            ratios = " | ".join(f"{a / b:.2f}x" for a, b in zip(ours, rows[peer], strict=True))
            lines.append(f"| {scheduler} | {peer} | {ratios} |")
    ready = rows["dagmill ready"]
    lines += ["", f"`ready` cost per node at {sizes[-1]:,} over {sizes[0]:,}: {ready[-1] / ready[0]:.2f}x"]
    return lines


def bench_shapes(n: int, repeats: int) -> list[str]:
    """Per-node overhead on the other shapes: a chain (no parallelism) and a wide graph (no edges)."""
    shape_makers = {"chain": shapes.chain, "wide": shapes.wide, "layered": shapes.layered}
    names = ("dagmill sequential", "dagmill level", "dagmill ready", "naive trio loop", "lean trio loop", "dask.threaded.get")
    lines = [
        f"Per-node overhead by shape at {n:,} no-op nodes (µs per node, best of {repeats}, k = {K}):",
        "",
        "| contender | " + " | ".join(shape_makers) + " |",
        "|---|" + "---:|" * len(shape_makers),
    ]
    rows: dict[str, list[float]] = {name: [] for name in names}
    for make in shape_makers.values():
        deps = make(n)
        contenders = overhead_contenders(deps, workflow(deps), K)
        for name in names:
            if name in contenders:
                rows[name].append(best(contenders[name], repeats) / n * 1e6)
    lines += [f"| {name} | " + " | ".join(f"{v:.1f}" for v in values) + " |" for name, values in rows.items() if values]
    return lines


def makespan_contenders(deps: shapes.Deps, durations: dict[str, float], unit: float, k: int) -> dict[str, Callable[[], Any]]:
    wf = workflow(deps, durations, unit)
    priority = {node: wf.graph.remaining[wf.graph.index[node]] for node in deps}

    async def nap(node: str, inputs: list[Any]) -> None:
        await trio.sleep(durations[node] * unit)

    contenders: dict[str, Callable[[], Any]] = {
        "dagmill level": engine(wf, "level", k),
        "dagmill ready": engine(wf, "ready", k),
        "naive trio loop": lambda: trio.run(peers.naive_trio, deps, nap, k),
        "lean trio loop": lambda: trio.run(peers.lean_trio, deps, nap, k, priority),
        "level-barrier loop (seeds)": lambda: trio.run(peers.level_barrier, deps, nap, k),
    }
    if dask is not None:

        def dask_sleep(seconds: float, *inputs: Any) -> None:
            time.sleep(seconds)

        graph = {node: (dask_sleep, durations[node] * unit, *preds) for node, preds in deps.items()}
        contenders["dask.threaded.get"] = lambda: dask.threaded.get(graph, list(deps), num_workers=k)
    return contenders


def bench_makespan(unit: float, repeats: int) -> list[str]:
    cases = {"long-pole": shapes.long_pole(), "random durations": shapes.random_durations(240)}
    lines = [
        f"Makespan / lower bound (`max(critical path, total work / k)`; one duration unit = {unit * 1000:g} ms of sleep, best of {repeats}):",
        "",
        "| contender | " + " | ".join(f"{case}, k={k}" for case in cases for k in (4, 16)) + " |",
        "|---|" + "---:|" * (2 * len(cases)),
    ]
    rows: dict[str, list[str]] = {}
    for deps, durations in cases.values():
        for k in (4, 16):
            bound = shapes.lower_bound(deps, durations, k) * unit
            for name, fn in makespan_contenders(deps, durations, unit, k).items():
                rows.setdefault(name, []).append(f"{best(fn, repeats) / bound:.3f}")
    lines += [f"| {name} | " + " | ".join(values) + " |" for name, values in rows.items()]
    return lines


def bench_memory(n: int) -> list[str]:
    deps = shapes.layered(n)
    wf = workflow(deps)
    lines = [f"Peak memory per node during a run of {n:,} no-op nodes (tracemalloc, bytes per node; workflow loaded beforehand):", ""]
    lines += ["| contender | bytes per node |", "|---|---:|"]
    contenders = overhead_contenders(deps, wf, K)
    for name in ("plain loop (graphlib)", "dagmill sequential", "dagmill level", "dagmill ready", "naive trio loop", "lean trio loop"):
        gc.collect()
        tracemalloc.start()
        contenders[name]()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        lines.append(f"| {name} | {peak / n:,.0f} |")
    return lines


def bench_load(n: int, repeats: int) -> list[str]:
    deps = shapes.layered(n, width=100, fan_in=2)
    document = {
        "name": "big",
        "nodes": [{"id": node, "type": "bench.noop"} for node in deps],
        "edges": [{"source": p, "target": node} for node, preds in deps.items() for p in preds],
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "big.json")
        path.write_text(json.dumps(document))

        def json_load() -> None:
            with path.open() as f:
                json.load(f)

        parse = best(json_load, repeats)
        load = best(lambda: dagmill.load(path, registry=REGISTRY), repeats)
    edges = len(document["edges"])
    return [
        f"Load + validate of a {n:,}-node, {edges:,}-edge JSON document (best of {repeats}):",
        "",
        "| step | seconds | vs json.load |",
        "|---|---:|---:|",
        f"| json.load | {parse:.3f} | 1.00x |",
        f"| dagmill.load (parse, structure, validate, analyse) | {load:.3f} | {load / parse:.2f}x |",
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1k and 10k nodes only, fewer repeats")
    parser.add_argument("--write", metavar="FILE", help="also write the tables into FILE between the benchmark markers")
    parser.add_argument("--only", choices=["overhead", "shapes", "makespan", "memory", "load"], action="append")
    options = parser.parse_args(argv)
    sizes = [1_000, 10_000] if options.quick else [1_000, 10_000, 100_000]
    repeats = 2 if options.quick else 3
    sections: dict[str, Callable[[], list[str]]] = {
        "overhead": functools.partial(bench_overhead, sizes, repeats),
        "makespan": functools.partial(bench_makespan, 0.005, 1 if options.quick else 2),
        "shapes": functools.partial(bench_shapes, 10_000, repeats),
        "memory": functools.partial(bench_memory, sizes[-1]),
        "load": functools.partial(bench_load, 10_000 if options.quick else 100_000, 1 if options.quick else 3),
    }
    header = [
        f"Measured {time.strftime('%Y-%m-%d')} with `python benchmarks/run.py{' --quick' if options.quick else ''}`"
        f" on Python {platform.python_version()}, trio {trio.__version__}"
        + (f", dask {dask.__version__}" if dask is not None else ", dask not installed")
        + f", {platform.machine()} with 2 cores.",
        "",
    ]
    out = list(header)
    for name, section in sections.items():
        if options.only and name not in options.only:
            continue
        lines = section()
        print("\n".join(lines) + "\n", flush=True)
        out += lines + [""]
    if options.write:
        target = Path(options.write)
        text = target.read_text()
        begin, end = "<!-- benchmarks:begin -->", "<!-- benchmarks:end -->"
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        target.write_text(head + begin + "\n" + "\n".join(out) + "\n" + end + tail)


if __name__ == "__main__":
    main()
