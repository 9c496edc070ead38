"""Live progress on the terminal (rich): an overall bar, the current level, running/done/failed, an ETA.

On by default when stderr is a terminal and ``CI`` is not set;
``--progress``/``--no-progress`` decide otherwise, and ``--quiet`` turns it
off. The display implements only the run hooks: rich redraws it four times
a second from its own thread, reading the run's counters then, so nodes pay
nothing for it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import IO

from rich.console import Console, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

import dagmill


class ProgressDisplay:
    """Plugin object that draws the progress of each run on ``console``."""

    def __init__(self, console: Console, refresh_per_second: float = 4) -> None:
        self.console = console
        self.refresh_per_second = refresh_per_second
        self._run: dagmill.Run | None = None
        self._live: Live | None = None

    @dagmill.hookimpl
    def dagmill_run_start(self, run: dagmill.Run) -> None:
        self._run = run
        self._live = Live(self, console=self.console, refresh_per_second=self.refresh_per_second, transient=False)
        self._live.start()

    @dagmill.hookimpl
    def dagmill_run_end(self, run: dagmill.Run) -> None:
        if self._live is not None:
            self._live.stop()  # draws the final state once more
        self._live = None

    def __rich__(self) -> RenderableType:
        run = self._run
        if run is None:
            return Text("")
        stats = run.statistics()
        running = run.running()
        graph = run.graph
        level = min((graph.level[i] for i in running), default=None)
        where = f"level {level + 1}/{len(graph.levels)}" if level is not None else f"{len(graph.levels)} levels"
        line = Text.assemble(
            (f"{run.workflow.name} ", "bold"),
            f"{where} · running {stats.running} · done {stats.finished}/{stats.total}",
            (f" · failed {stats.failed}" if stats.failed else "", "red"),
            f" · {_eta(run, stats.finished, run.elapsed())}",
        )
        grid = Table.grid()
        grid.add_row(ProgressBar(total=max(stats.total, 1), completed=stats.finished, width=60))
        grid.add_row(line)
        return grid


def _eta(run: dagmill.Run, finished: int, elapsed: float) -> str:
    """Time left, from the estimates of the nodes not ended yet at the pace of those that did."""
    if not finished:
        return "ETA -"
    estimates = run.graph.estimates
    results = run.results()
    done = sum(estimates[i] for i in range(len(results)) if results[i] is not None)
    left = sum(estimates) - done
    if done <= 0:
        return "ETA -"
    return f"ETA {left * elapsed / done:.0f}s"


def wanted(choice: bool | None, quiet: bool, stream: IO[str], environ: Mapping[str, str]) -> bool:
    """Whether to show progress: the explicit choice, else on a terminal outside CI, never when quiet."""
    if quiet:
        return False
    if choice is not None:
        return choice
    return stream.isatty() and "CI" not in environ


@dagmill.hookimpl
def dagmill_addoption(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show live progress on stderr (default: on a terminal, off under CI)",
    )


@dagmill.hookimpl
def dagmill_configure(options: argparse.Namespace, registry: dagmill.Registry) -> None:
    if wanted(options.progress, options.quiet, sys.stderr, os.environ):
        registry.pm.register(ProgressDisplay(Console(file=sys.stderr)))
