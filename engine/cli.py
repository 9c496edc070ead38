"""The ``dagmill`` command: run, validate, plan, plugins.

Machine output (``--json``) goes to stdout; everything for people goes to
stderr. Exit codes: 0 succeeded, 1 the run failed, 2 invalid document or
usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from dagmill import simulate
from dagmill.api import run as run_workflow
from dagmill.config import Layers, Setting
from dagmill.errors import DagmillError, WorkflowError
from dagmill.graph import Graph
from dagmill.load import load
from dagmill.model import FailPolicy, Status, Workflow
from dagmill.registry import Registry
from dagmill.result import RunResult
from dagmill.run import auto_concurrency

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
_SHOWN = 10


def _concurrency(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or 'auto', got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or 'auto', got {text!r}")
    return value


def _slots(value: int | str) -> int:
    return auto_concurrency() if value == "auto" else int(value)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def build_parser(registry: Registry) -> argparse.ArgumentParser:
    """The argument parser, with the options plugins add to ``run``."""
    parser = argparse.ArgumentParser(prog="dagmill", description="Run workflows: graphs of typed nodes.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a workflow")
    run.add_argument("file", metavar="FILE", help="workflow document (.json or .toml)")
    run.add_argument("--scheduler", default="level", help=f"one of: {', '.join(sorted(registry.schedulers))} (default: level)")
    run.add_argument("--max-concurrency", type=_concurrency, default="auto", metavar="N|auto", help="nodes running at once; 0 = unlimited (default: auto)")
    run.add_argument("--executor", help=f"executor of nodes that name none: {', '.join(sorted(registry.executors))}")
    run.add_argument(
        "--fail-policy",
        choices=[p.value for p in FailPolicy],
        default=FailPolicy.FAIL_FAST.value,
        help="fail_fast (default): a failure cancels what runs, starts nothing else; continue: skip its descendants, run the rest",
    )
    run.add_argument("--timeout", type=_seconds, metavar="SECONDS", help="cancel the run after this long")
    run.add_argument("--json", action="store_true", help="print the run result, every node's output included, as one JSON object on stdout")
    run.add_argument("-q", "--quiet", action="store_true", help="print nothing for people on stderr but errors")
    run.add_argument("--keep-outputs", action="store_true", help="keep every node's output in the result, not only the sinks' (implied by --json)")
    run.add_argument("--cancel-stalled", action="store_true", help="cancel (fail) nodes silent past their stall_after")
    run.add_argument("--run-id", help="id of this run (default: random)")
    run.add_argument("--workdir", help="the run's work directory (default: .dagmill/runs/RUN_ID)")
    registry.hook.dagmill_addoption(parser=run)

    validate = commands.add_parser("validate", help="check a workflow document; list every defect")
    validate.add_argument("file", metavar="FILE")

    plan = commands.add_parser("plan", help="show levels, widths, the critical path and makespan estimates")
    plan.add_argument("file", metavar="FILE")
    plan.add_argument("--format", choices=["text", "json", "mermaid", "dot"], default="text")
    plan.add_argument("--max-concurrency", type=_concurrency, default="auto", metavar="N|auto", help="slots for the makespan estimates (default: auto)")

    config = commands.add_parser("config", help="show the effective run options and where each comes from")
    config.add_argument("--json", action="store_true", help="print them as JSON on stdout")

    plugins = commands.add_parser("plugins", help="list plugins, node types, schedulers and executors")
    plugins.add_argument("--json", action="store_true", help="print the listing as JSON on stdout")
    registry.hook.dagmill_addcommand(commands=commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dagmill`` console script; returns the exit code."""
    registry = Registry.discover()
    parser = build_parser(registry)
    err = sys.stderr
    layers = Layers(_subcommand(parser, "run"), os.environ, Path.cwd())
    options = parser.parse_args(argv)
    if options.command != "plugins":
        for failure in registry.failures:
            print(f"dagmill: warning: {failure}", file=err)
    try:
        if options.command == "plugins":
            return _plugins(registry, options.json)
        if options.command == "config":
            return _config(layers.resolve(argparse.Namespace()), options.json)
        if options.command == "run":
            layers.resolve(options)
        handler = getattr(options, "handler", None)
        if handler is not None:
            options.run_options = argparse.Namespace()
            layers.resolve(options.run_options)
            return int(handler(options))
        workflow = load(options.file, registry=registry)
        if options.command == "validate":
            graph = workflow.graph
            print(f"{options.file}: ok ({len(graph)} nodes, {len(workflow.edges)} edges, {len(graph.levels)} levels)", file=err)
            return EXIT_OK
        if options.command == "plan":
            return _plan(workflow, options.format, _slots(options.max_concurrency))
        registry.hook.dagmill_configure(options=options, registry=registry)
        result = None
        try:
            result = run_workflow(
                workflow,
                scheduler=options.scheduler,
                max_concurrency=options.max_concurrency,
                executor=options.executor,
                fail_policy=options.fail_policy,
                timeout=options.timeout,
                keep_outputs=options.keep_outputs or options.json,  # --json prints every node's output
                cancel_stalled=options.cancel_stalled,
                registry=registry,
                run_id=options.run_id,
                workdir=options.workdir,
                settings=vars(options),
            )
            if options.json:
                print(result.to_json())
            if not options.quiet:
                _summarize(result, err)
        finally:
            registry.hook.dagmill_unconfigure(options=options, result=result)
    except WorkflowError as exc:
        for problem in exc.problems:
            print(problem, file=err)
        return EXIT_USAGE
    except DagmillError as exc:
        print(f"dagmill: error: {exc}", file=err)
        return EXIT_USAGE
    if result.status is Status.SUCCEEDED:
        return EXIT_OK
    return EXIT_INTERRUPTED if result.status is Status.CANCELLED else EXIT_FAILED


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise LookupError(name)


def _config(settings: list[Setting], as_json: bool) -> int:
    if as_json:
        print(json.dumps({s.name: {"value": s.value, "source": s.source} for s in settings}))
        return EXIT_OK
    width = max(len(s.name) for s in settings)
    for s in settings:
        print(f"{s.name:<{width}}  {s.value!r:<24} ({s.source})")
    return EXIT_OK


def _summarize(result: RunResult, out: TextIO) -> None:
    counts = ", ".join(f"{n} {status}" for status, n in result.counts().items())
    print(
        f"dagmill: run {result.run_id} of {result.workflow!r} {result.status} in {result.duration:.3f}s"
        f" ({counts}; scheduler {result.scheduler}, max concurrency {result.max_concurrency or 'unlimited'})",
        file=out,
    )
    if result.error:
        print(f"  {result.error}", file=out)
    failed = [node for node in result.nodes.values() if node.status is Status.FAILED]
    for node in failed[:_SHOWN]:
        print(f"  failed {node.id} after {node.attempts} attempt(s): {node.error}", file=out)
    if len(failed) > _SHOWN:
        print(f"  ... {len(failed) - _SHOWN} more failed", file=out)
    for node_id, output in list(result.outputs.items())[:_SHOWN]:
        print(f"  {node_id} = {_short(output)}", file=out)
    if len(result.outputs) > _SHOWN:
        print(f"  ... {len(result.outputs) - _SHOWN} more outputs (see --json)", file=out)


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _ids(graph: Graph, indices: Sequence[int]) -> str:
    names = [graph.ids[i] for i in indices[:_SHOWN]]
    more = f", ... {len(indices) - _SHOWN} more" if len(indices) > _SHOWN else ""
    return ", ".join(names) + more


def _plan(workflow: Workflow, format: str, k: int) -> int:
    graph = workflow.graph
    if format == "mermaid":
        print(_mermaid(workflow))
        return EXIT_OK
    if format == "dot":
        print(_dot(workflow))
        return EXIT_OK
    estimates = {
        "lower_bound": simulate.lower_bound(graph, k),
        "level": simulate.level_makespan(graph, k),
        "ready": simulate.ready_makespan(graph, k),
    }
    if format == "json":
        plan = {
            "workflow": workflow.name,
            "nodes": len(graph),
            "edges": len(workflow.edges),
            "levels": [[graph.ids[i] for i in level] for level in graph.levels],
            "widths": graph.widths,
            "critical_path": [graph.ids[i] for i in graph.critical_path],
            "critical_length": graph.critical_length,
            "max_concurrency": k,
            "makespan": estimates,
        }
        print(json.dumps(plan))
        return EXIT_OK
    out = sys.stdout
    print(f"workflow {workflow.name!r}: {len(graph)} nodes, {len(workflow.edges)} edges, {len(graph.levels)} levels", file=out)
    for depth, level in enumerate(graph.levels):
        print(f"  level {depth} (width {len(level)}): {_ids(graph, level)}", file=out)
    path = " -> ".join(graph.ids[i] for i in graph.critical_path)
    print(f"critical path (estimated {graph.critical_length:g}s): {path}", file=out)
    print(f"max width {max(graph.widths, default=0)}", file=out)
    slots = f"{k} slots" if k else "unlimited slots"
    print(f"makespan at {slots}: lower bound {estimates['lower_bound']:g}s, level {estimates['level']:g}s, ready {estimates['ready']:g}s", file=out)
    return EXIT_OK


def _mermaid(workflow: Workflow) -> str:
    graph = workflow.graph
    lines = ["flowchart LR"]
    for i, node in enumerate(workflow.nodes):
        lines.append(f'  n{i}["{_quote(node.id)}<br/><small>{_quote(node.type)}</small>"]')
    for edge in workflow.edges:
        label = f"|{_quote(edge.port)}|" if edge.port else ""
        lines.append(f"  n{graph.index[edge.source]} -->{label} n{graph.index[edge.target]}")
    return "\n".join(lines)


def _quote(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "&#124;")


def _dot(workflow: Workflow) -> str:
    lines = [f"digraph {json.dumps(workflow.name)} {{", "  rankdir=LR;", "  node [shape=box];"]
    for node in workflow.nodes:
        lines.append(f"  {json.dumps(node.id)} [label={json.dumps(node.id + chr(10) + node.type)}];")
    for edge in workflow.edges:
        label = f" [label={json.dumps(edge.port)}]" if edge.port else ""
        lines.append(f"  {json.dumps(edge.source)} -> {json.dumps(edge.target)}{label};")
    lines.append("}")
    return "\n".join(lines)


def _plugins(registry: Registry, as_json: bool) -> int:
    rows = {
        "plugins": [
            {
                "name": info.name,
                "distribution": info.distribution,
                "node_types": list(info.node_types),
                "schedulers": list(info.schedulers),
                "executors": list(info.executors),
            }
            for info in registry.plugins
        ],
        "node_types": {
            name: {"description": t.description, "executor": t.executor, "distribution": registry.distribution_of("node_types", name)}
            for name, t in sorted(registry.node_types.items())
        },
        "schedulers": {
            name: {"description": s.description, "experimental": s.experimental, "distribution": registry.distribution_of("schedulers", name)}
            for name, s in sorted(registry.schedulers.items())
        },
        "executors": {
            name: {"description": e.description, "distribution": registry.distribution_of("executors", name)}
            for name, e in sorted(registry.executors.items())
        },
        "failures": [{"name": f.name, "distribution": f.distribution, "error": f.error} for f in registry.failures],
    }
    if as_json:
        print(json.dumps(rows))
        return EXIT_OK
    out = sys.stdout
    print("plugins:", file=out)
    for plugin in rows["plugins"]:
        provides = "; ".join(f"{kind}: {', '.join(plugin[kind])}" for kind in ("node_types", "schedulers", "executors") if plugin[kind])
        print(f"  {plugin['name']:<14} {plugin['distribution'] or '(in code)':<28} {provides}", file=out)
    for kind in ("node_types", "schedulers", "executors"):
        print(f"{kind.replace('_', ' ')}:", file=out)
        for name, info in rows[kind].items():
            flag = " [experimental]" if info.get("experimental") else ""
            print(f"  {name:<14} {info['distribution'] or '(in code)':<28} {info['description']}{flag}", file=out)
    if registry.failures:
        print("failed plugins:", file=out)
        for failure in registry.failures:
            print(f"  {failure}", file=out)
    return EXIT_OK


def entry_point() -> None:
    """The console script: exit with :func:`main`'s code; Ctrl-C outside a run (which handles its own) exits 130."""
    try:
        code = main()
    except KeyboardInterrupt:
        print("dagmill: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    sys.exit(code)
