"""A self-contained HTML run report: a Gantt chart, concurrency over time, levels, failures.

``dagmill run FLOW --report out.html`` writes it when the run ends;
``dagmill report RUN_ID -o out.html`` writes it later from the run journal
(also for a run that died or is still going); :func:`render` makes one from
any :class:`dagmill.RunResult` in code. The
file needs nothing from the network: the charts are inline SVG drawn here,
the style inline CSS. Every node is one bar (``data-node`` holds its id),
colored by status; runs of more than 20,000 nodes draw the 20,000 that
started first and say how many were left out.
"""

from __future__ import annotations

import argparse
import html
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagmill
from dagmill.plugins.journal import journal_path, read_run

MAX_BARS = 20_000
ROW = 14
WIDTH = 1000
COLORS = {
    "succeeded": "#2e9d5b",
    "failed": "#d64545",
    "cancelled": "#9a9a9a",
    "skipped": "#e0b43c",
    "cached": "#4a7bd0",
    "running": "#8e5bd0",
}
STYLE = """
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; } td, th { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.legend span { display: inline-block; margin-right: 14px; } .legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; max-height: 240px; }
svg text { font-size: 11px; fill: #444; }
"""


def render(result: dagmill.RunResult, title: str | None = None) -> str:
    """The whole report as one HTML document."""
    nodes = sorted(result.nodes.values(), key=lambda n: (n.started_at is None, n.started_at or 0.0, n.id))
    shown = nodes[:MAX_BARS]
    span = max([result.duration, *(n.ended_at or 0.0 for n in nodes)]) or 1.0
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{_e(title or result.workflow)} — dagmill run {_e(result.run_id)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{_e(result.workflow)}: run {_e(result.run_id)} <span style='color:{COLORS.get(result.status.value, '#222')}'>{_e(result.status.value)}</span></h1>",
        f"<p>{result.duration:.3f} s · scheduler {_e(result.scheduler)} · max concurrency {result.max_concurrency or 'unlimited'} · "
        + " · ".join(f"{count} {_e(status)}" for status, count in result.counts().items())
        + (f"<br>{_e(result.error)}" if result.error else "")
        + "</p>",
        "<p class='legend'>" + "".join(f"<span><i style='background:{c}'></i>{s}</span>" for s, c in COLORS.items()) + "</p>",
        "<h2>Nodes over time</h2>",
        _gantt(shown, span),
    ]
    if len(nodes) > len(shown):
        parts.append(f"<p>{len(nodes) - len(shown)} more nodes not drawn (the report draws the first {MAX_BARS} to start).</p>")
    parts += ["<h2>Concurrency</h2>", _concurrency(nodes, span, result.max_concurrency), "<h2>Levels</h2>", _levels(result.levels)]
    failed = [n for n in nodes if n.status is dagmill.Status.FAILED]
    if failed:
        parts.append("<h2>Failures</h2>")
        for node in failed:
            parts.append(f"<h3>{_e(node.id)}: {_e(node.error or '')}</h3><pre>{_e(node.traceback or '')}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _x(seconds: float, span: float) -> float:
    return 160 + seconds / span * (WIDTH - 170)


def _gantt(nodes: Sequence[dagmill.NodeResult], span: float) -> str:
    height = ROW * len(nodes) + 24
    rows = []
    for k, node in enumerate(nodes):
        y = 4 + k * ROW
        start = node.started_at if node.started_at is not None else (node.ended_at or 0.0)
        end = node.ended_at if node.ended_at is not None else (span if node.status is dagmill.Status.RUNNING else start)
        x, w = _x(start, span), max(2.0, _x(end, span) - _x(start, span))
        tip = f"{node.id}: {node.status.value}, {start:.3f}–{end:.3f} s, attempts {node.attempts}"
        rows.append(
            f"<text x='4' y='{y + 10}'>{_e(node.id[:24])}</text>"
            f"<rect data-node='{_e(node.id)}' class='bar {node.status.value}' x='{x:.1f}' y='{y}' width='{w:.1f}' height='{ROW - 3}' "
            f"fill='{COLORS.get(node.status.value, '#555')}'><title>{_e(tip)}</title></rect>"
        )
    axis = f"<text x='160' y='{height - 4}'>0 s</text><text x='{WIDTH - 60}' y='{height - 4}'>{span:.3f} s</text>"
    return f"<svg id='gantt' width='{WIDTH}' height='{height}' xmlns='http://www.w3.org/2000/svg'>{''.join(rows)}{axis}</svg>"


def _concurrency(nodes: Sequence[dagmill.NodeResult], span: float, limit: int) -> str:
    events = sorted(
        [(n.started_at, 1) for n in nodes if n.started_at is not None] + [(n.ended_at, -1) for n in nodes if n.started_at is not None and n.ended_at is not None],
        key=lambda event: (event[0], event[1]),
    )
    running, peak, points = 0, 0, [(0.0, 0)]
    for moment, change in events:
        running += change
        peak = max(peak, running)
        points.append((moment, running))
    top = max(peak, limit, 1)
    height = 160

    def y(value: int) -> float:
        return 10 + (1 - value / top) * (height - 30)

    path = f"M {_x(0, span):.1f} {y(0):.1f}"
    for moment, value in points:
        path += f" H {_x(moment, span):.1f} V {y(value):.1f}"
    path += f" H {_x(span, span):.1f}"
    limit_line = (
        f"<line x1='160' x2='{WIDTH - 10}' y1='{y(limit):.1f}' y2='{y(limit):.1f}' stroke='#d64545' stroke-dasharray='4 3'/>"
        f"<text x='4' y='{y(limit) + 4:.1f}'>limit {limit}</text>"
        if limit
        else ""
    )
    return (
        f"<svg id='concurrency' width='{WIDTH}' height='{height}' xmlns='http://www.w3.org/2000/svg'>"
        f"<path d='{path}' fill='none' stroke='#2e6fd0' stroke-width='2'/>{limit_line}"
        f"<text x='4' y='{y(peak) + 4:.1f}'>peak {peak}</text></svg>"
    )


def _levels(levels: Sequence[dagmill.LevelResult]) -> str:
    rows = "".join(
        f"<tr><td>{level.level}</td><td>{level.width}</td><td>{'' if level.duration is None else f'{level.duration:.3f}'}</td><td>{level.peak_concurrency}</td></tr>"
        for level in levels
    )
    return f"<table id='levels'><tr><th>level</th><th>width</th><th>latency (s)</th><th>peak concurrency</th></tr>{rows}</table>"


@dagmill.hookimpl
def dagmill_addoption(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", metavar="FILE", help="write a self-contained HTML report of the run (Gantt chart, concurrency, levels, failures)")


@dagmill.hookimpl(tryfirst=True)
def dagmill_configure(options: argparse.Namespace, registry: dagmill.Registry) -> None:
    # first of all plugins: a report that cannot be written stops the command before anyone starts anything
    if options.report:
        _check_writable(Path(options.report))


def _check_writable(target: Path) -> None:
    """Raise :class:`dagmill.UsageError` if ``--report`` names a file that surely cannot be written; a full disk shows only later."""
    if "\0" in str(target):  # only a config file can carry one; the file system refuses it with a ValueError
        raise dagmill.UsageError(f"--report {str(target)!r}: not a file name (it holds a NUL character)")
    if target.is_dir():
        raise dagmill.UsageError(f"--report {target}: is a directory; name the HTML file to write")
    folder = target.parent
    if not folder.is_dir():
        raise dagmill.UsageError(f"--report {target}: no directory {folder} to write it in")
    if not (os.access(target, os.W_OK) if target.exists() else os.access(folder, os.W_OK | os.X_OK)):
        raise dagmill.UsageError(f"--report {target}: cannot write it (permission denied)")


@dagmill.hookimpl
def dagmill_unconfigure(options: argparse.Namespace, result: dagmill.RunResult | None) -> None:
    if options.report and result is not None:
        try:
            Path(options.report).write_text(render(result), encoding="utf-8")
        except OSError as exc:
            print(f"dagmill: warning: could not write the report to {options.report}: {exc.strerror or exc}", file=sys.stderr)
        else:
            if not options.quiet:
                print(f"dagmill: report written to {options.report}", file=sys.stderr)


@dagmill.hookimpl
def dagmill_addcommand(commands: Any) -> None:
    report = commands.add_parser("report", help="write the HTML report of a run recorded in the journal")
    report.add_argument("run_id", metavar="RUN_ID", help="the run (see: dagmill runs)")
    report.add_argument("-o", "--output", metavar="FILE", help="where to write it (default: report-RUN_ID.html)")
    report.add_argument("--journal", metavar="PATH", help="the journal (default: the one `dagmill run` records to: $DAGMILL_JOURNAL, else the config file's journal, else .dagmill/journal.sqlite3)")
    report.set_defaults(handler=_report_command)


def _report_command(options: argparse.Namespace) -> int:
    result = read_run(journal_path(options.journal or options.run_options.journal), options.run_id)
    target = Path(options.output or f"report-{options.run_id}.html")
    try:
        target.write_text(render(result), encoding="utf-8")
    except OSError as exc:
        raise dagmill.UsageError(f"cannot write the report to {target}: {exc.strerror or exc}") from None
    print(f"dagmill: report of run {options.run_id} ({result.status.value}) written to {target}", file=sys.stderr)
    return 0
