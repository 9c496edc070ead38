"""The live progress display: when it shows, and what it says mid-run."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from rich.console import Console

import dagmill
import nodetypes
from dagmill.plugins.progress import ProgressDisplay, wanted

Cli = Callable[..., subprocess.CompletedProcess[str]]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("choice", "quiet", "stream", "environ", "shown"),
    [
        (None, False, Terminal(), {}, True),
        (None, False, io.StringIO(), {}, False),
        (None, False, Terminal(), {"CI": "true"}, False),
        (True, False, io.StringIO(), {"CI": "1"}, True),
        (False, False, Terminal(), {}, False),
        (True, True, Terminal(), {}, False),
    ],
)
def test_when_progress_shows(choice: bool | None, quiet: bool, stream: io.StringIO, environ: dict[str, str], shown: bool) -> None:
    assert wanted(choice, quiet, stream, environ) is shown


async def test_a_frame_mid_run_shows_level_counts_and_eta(autojump_clock: trio.testing.MockClock) -> None:
    screen = io.StringIO()
    display = ProgressDisplay(Console(file=screen, force_terminal=True, width=120, color_system=None), refresh_per_second=0.001)
    frames: list[str] = []

    @dagmill.node_type("t.snapshot")
    async def snapshot(params: None, inputs: Any, ctx: dagmill.NodeContext) -> None:
        await trio.sleep(1)
        capture = Console(file=io.StringIO(), width=120, color_system=None)
        capture.print(display)
        frames.append(capture.file.getvalue())  # type: ignore[attr-defined]

    class Snapshot:
        @dagmill.hookimpl
        def dagmill_node_types(self) -> list[dagmill.NodeType]:
            return [snapshot]

    doc = {
        "name": "watched",
        "nodes": [
            {"id": "a", "type": "t.value", "params": {"value": 1}},
            {"id": "b", "type": "t.fail"},
            {"id": "long", "type": "t.sleep", "params": {"seconds": 5}, "estimate": 5},
            {"id": "shot", "type": "t.snapshot", "estimate": 1},
            {"id": "c", "type": "t.sum"},
            {"id": "d", "type": "t.sum"},
        ],
        "edges": [{"source": "a", "target": "c"}, {"source": "c", "target": "d"}],
    }
    await dagmill.arun(doc, plugins=[nodetypes, display, Snapshot()], fail_policy="continue", max_concurrency=4)
    (frame,) = frames
    # at t=1 (level scheduler): a and b ended, long and shot run in level 1 of 3, c and d wait behind the barrier;
    # estimates done: 2 of 10 in 1 s, so 8 left at that pace
    assert "watched level 1/3 · running 2 · done 2/6 · failed 1 · ETA 4s" in frame
    assert "done 6/6" in screen.getvalue()


def test_cli_progress_flags(dagmill_cli: Cli, write_json: Callable[..., Path]) -> None:
    path = str(write_json({"name": "cli", "nodes": [{"id": f"n{k}", "type": "t.value"} for k in range(3)]}))
    forced = dagmill_cli("run", path, "--progress")
    assert "cli 1 levels · running 0 · done 3/3" in forced.stderr
    default = dagmill_cli("run", path)
    assert "done 3/3" not in default.stderr and "succeeded" in default.stderr
    quiet = dagmill_cli("run", path, "--progress", "--quiet")
    assert (quiet.returncode, quiet.stderr) == (0, "")
