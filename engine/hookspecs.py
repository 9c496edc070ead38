"""The hook specifications: the contract between the engine and every plugin.

A plugin is any object (usually a module) with functions marked
``@dagmill.hookimpl`` and named after these hooks; it may implement any subset
and may declare any prefix of a hook's arguments. Plugins are found through
the ``dagmill`` entry-point group or passed in code (``dagmill.run(...,
plugins=[obj])``).

Lifecycle hooks are called on the trio thread, in the middle of the run loop:
they must be cheap and must not block. A lifecycle hook that no plugin
implements is never called and costs nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from dagmill.executor import Executor
    from dagmill.model import Node, NodeType
    from dagmill.registry import Registry
    from dagmill.result import LevelResult, NodeResult, RunResult, StoredResult
    from dagmill.run import Run
    from dagmill.scheduler import Scheduler

hookspec = pluggy.HookspecMarker("dagmill")
hookimpl = pluggy.HookimplMarker("dagmill")


# -- registration ------------------------------------------------------------


@hookspec
def dagmill_node_types() -> Sequence[NodeType]:
    """Return the node types this plugin provides.

    Called once when the plugins are loaded. Two plugins providing the same
    name is reported as a plugin error; the first one keeps the name.
    """


@hookspec
def dagmill_schedulers() -> Sequence[type[Scheduler]]:
    """Return the :class:`dagmill.Scheduler` subclasses this plugin provides.

    Called once when the plugins are loaded; a run instantiates the class it
    is asked for (``--scheduler NAME``) with no arguments.
    """


@hookspec
def dagmill_executors() -> Sequence[type[Executor]]:
    """Return the :class:`dagmill.Executor` subclasses this plugin provides.

    Called once when the plugins are loaded; a run instantiates each executor
    that one of its nodes uses, with the run as the only argument.
    """


# -- loading -----------------------------------------------------------------


@hookspec(firstresult=True)
def dagmill_infer_node_type(node: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """Claim a node document that has no ``type`` (the seeds' payload form).

    ``node`` is the raw document of the node, e.g. ``{"id": "1", "data":
    {"value": 10}}``. Return ``(type_name, params)`` to claim it, or ``None``.
    The first non-``None`` answer wins.
    """


# -- run lifecycle -------------------------------------------------------------


@hookspec
def dagmill_run_start(run: Run) -> None:
    """A run begins: nothing has been dispatched yet.

    ``run`` stays valid until :func:`dagmill_run_end`; its ``statistics()``
    may be read from any lifecycle hook.
    """


@hookspec
def dagmill_level_start(run: Run, level: int, width: int) -> None:
    """The first node of graph level ``level`` (``width`` nodes) starts.

    Levels are graph depth, whatever the scheduler: under ``ready`` several
    levels may be open at once.
    """


@hookspec
def dagmill_level_end(run: Run, level: LevelResult) -> None:
    """The last node of a level has ended; ``level`` has its timings and peak concurrency."""


@hookspec
def dagmill_node_ready(run: Run, node: Node) -> None:
    """``node``'s last predecessor has ended (sources are ready when the run starts)."""


@hookspec
def dagmill_node_start(run: Run, node: Node) -> None:
    """The scheduler has started ``node``: it leaves the ready set now."""


@hookspec
def dagmill_node_progress(run: Run, node: Node, fraction: float | None, message: str) -> None:
    """A running node reported progress (``ctx.progress(...)``); ``fraction`` is in [0, 1] or ``None``."""


@hookspec
def dagmill_node_stalled(run: Run, node: Node, silent_for: float) -> None:
    """``node`` has sent no heartbeat (start or ``ctx.progress``) for ``silent_for`` seconds, past its ``stall_after``.

    Called once per stall; the node is cancelled afterwards if the run cancels stalled nodes.
    """


@hookspec
def dagmill_node_end(run: Run, node: Node, result: NodeResult) -> None:
    """``node`` has reached a final status; ``result`` is its final record."""


@hookspec
def dagmill_run_end(run: Run, result: RunResult) -> None:
    """A run has ended (succeeded, failed or cancelled); ``result`` is final."""


# -- decisions -----------------------------------------------------------------


@hookspec(firstresult=True)
def dagmill_node_lookup(run: Run, node: Node, fingerprint: str) -> StoredResult | None:
    """Return a stored result that lets ``node`` be skipped, or ``None``.

    Called on the trio thread before the node is dispatched. ``fingerprint``
    identifies the node's type, type version, params and (recursively) its
    inputs. The first non-``None`` answer wins and the node is ``cached``.
    """


@hookspec
def dagmill_lookup_scope(run: Run) -> Iterable[int] | None:
    """Return the indices of the nodes this plugin's ``dagmill_node_lookup`` may answer in ``run``, or ``None`` for any.

    Called once, right after ``dagmill_run_start``, by a plugin that also
    implements ``dagmill_node_lookup``. Nodes no such plugin names are never
    looked up (a lookup plugin that does not implement this hook keeps every
    node looked up): they skip the lookup, and executors may start their work
    early (:meth:`Run.may_look_up`).
    """


@hookspec(firstresult=True)
def dagmill_node_resources(run: Run, node: Node) -> Mapping[str, int] | None:
    """Return the resource pools and amounts ``node`` needs, or ``None`` for its own ``resources``.

    Called once per node when the run starts. The first non-``None`` answer wins.
    """


# -- command line ----------------------------------------------------------------


@hookspec
def dagmill_addcommand(commands: Any) -> None:
    """Add subcommands to ``dagmill`` (``commands`` is argparse's subparsers object).

    Give each new parser ``set_defaults(handler=fn)``: the CLI calls
    ``fn(options)`` with the parsed options and exits with the ``int`` it
    returns; ``options.run_options`` holds the effective ``dagmill run``
    options (file, environment, defaults), for commands that share one (the
    journal's path, say). Raise :class:`dagmill.DagmillError` for a user's
    mistake (exit 2).
    """


@hookspec(firstresult=True)
def dagmill_node_estimate(run: Run, node: Node) -> float | None:
    """Return the expected duration of ``node`` in seconds (learned from earlier runs), or ``None``.

    Called once per node when a run starts, before the scheduler sees the
    graph; the first non-``None`` answer replaces the node's ``estimate`` in
    ``run.remaining`` (the priorities of the ``ready`` scheduler).
    """


@hookspec
def dagmill_addoption(parser: argparse.ArgumentParser) -> None:
    """Add options to ``dagmill run`` (called once, before the command line is parsed)."""


@hookspec
def dagmill_configure(options: argparse.Namespace, registry: Registry) -> None:
    """Read the parsed ``dagmill run`` options (called once, before the run starts).

    A plugin that needs per-run state may register an object with
    ``registry.pm.register(obj)`` here. Raise :class:`dagmill.UsageError` to
    refuse the options (the command exits 2 and nothing runs).
    """


@hookspec
def dagmill_unconfigure(options: argparse.Namespace, result: RunResult | None) -> None:
    """``dagmill run`` is about to exit: the result (``None`` if the run never started) has been printed."""
