"""DAG shapes for the benchmarks, as ``{node: [predecessors]}`` with durations in abstract units."""

from __future__ import annotations

import random

Deps = dict[str, list[str]]


def _name(i: int) -> str:
    return f"n{i:06d}"


def chain(n: int) -> Deps:
    """``n`` nodes in a line."""
    return {_name(i): [_name(i - 1)] if i else [] for i in range(n)}


def wide(n: int) -> Deps:
    """``n`` independent nodes."""
    return {_name(i): [] for i in range(n)}


def layered(n: int, width: int = 100, fan_in: int = 2, seed: int = 1) -> Deps:
    """Layers of ``width`` nodes, each taking ``fan_in`` random nodes of the layer above."""
    rng = random.Random(seed)
    deps: Deps = {}
    previous: list[str] = []
    for start in range(0, n, width):
        layer = [_name(i) for i in range(start, min(n, start + width))]
        for node in layer:
            deps[node] = rng.sample(previous, min(fan_in, len(previous)))
        previous = layer
    return deps


def long_pole(poles: int = 4, pole_length: float = 10, shorts: int = 36, short_length: float = 1) -> tuple[Deps, dict[str, float]]:
    """A chain of ``poles`` slow nodes beside ``shorts`` short nodes hanging off a short root chain.

    The short nodes share levels with the pole, so a level barrier makes the
    pole wait for them; a critical-path-first scheduler runs the pole at once.
    """
    deps: Deps = {}
    durations: dict[str, float] = {}
    for i in range(poles):
        deps[f"pole{i}"] = [f"pole{i - 1}"] if i else []
        durations[f"pole{i}"] = pole_length
    for i in range(shorts):
        level = i % poles
        deps[f"short{i:03d}"] = [f"short{i - poles:03d}"] if i >= poles else []
        durations[f"short{i:03d}"] = short_length * (1 + level % 2)
    return deps, durations


def random_durations(n: int, seed: int = 2) -> tuple[Deps, dict[str, float]]:
    """A layered random DAG of ``n`` nodes with log-uniform durations from 1 to 20."""
    rng = random.Random(seed)
    deps = layered(n, width=max(4, n // 12), fan_in=2, seed=seed)
    return deps, {node: 20 ** rng.random() for node in deps}


def lower_bound(deps: Deps, durations: dict[str, float], workers: int) -> float:
    """``max(critical path, total work / workers)``."""
    finish: dict[str, float] = {}
    for node in deps:  # every generator lists predecessors before their successors
        finish[node] = durations[node] + max((finish[p] for p in deps[node]), default=0.0)
    return max(max(finish.values()), sum(durations.values()) / workers)
