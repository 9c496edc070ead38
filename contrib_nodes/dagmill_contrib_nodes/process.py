"""Processes: commands (argv lists, only when the run allows them) and your own Python functions."""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from typing import Any

import attrs
import trio

import dagmill
from dagmill_contrib_nodes._inputs import listed


def _argv(instance: Any, attribute: Any, value: list[str]) -> None:
    if not value:
        raise ValueError(f"'{attribute.name}' must name a program: an empty list")


@attrs.frozen
class ShellParams:
    argv: list[str] = attrs.field(validator=_argv)
    """The program and its arguments: a list, never a shell string."""
    check: bool = True
    """Fail the node when the program exits non-zero."""


@functools.cache
def import_function(reference: str) -> Callable[..., Any]:
    """The function named ``"module:function"`` (imported once per process)."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"'function' must look like 'module:function', got {reference!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"'function' cannot import {module_name!r}: {exc}") from None
    target: Any = module
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ValueError(f"'function' {reference!r}: {module_name!r} has no {attribute!r}")
    if not callable(target):
        raise ValueError(f"'function' {reference!r} is not callable")
    return target


def _importable(instance: Any, attribute: Any, value: str) -> None:
    import_function(value)


@attrs.frozen
class PythonParams:
    function: str = attrs.field(validator=_importable)
    """``module:function``: called with the inputs (positionally, or by port name) and ``kwargs``."""
    kwargs: dict[str, Any] = attrs.field(factory=dict)
    """Extra keyword arguments."""


def refuse_shell_unless_allowed(run: dagmill.Run) -> None:
    """Raise before anything runs if the workflow has shell nodes and the run does not allow them."""
    shells = [node.id for node in run.workflow.nodes if node.type == "shell"]
    if shells and not run.options.settings.get("allow_shell"):
        names = ", ".join(map(repr, shells[:5])) + (", ..." if len(shells) > 5 else "")
        raise dagmill.UsageError(
            f"shell node(s) {names} refused: allow commands with 'dagmill run --allow-shell'"
            " (or settings={'allow_shell': True} in Python)"
        )


@dagmill.node_type("shell", params=ShellParams)
async def shell(params: ShellParams, inputs: Any, ctx: dagmill.NodeContext) -> str:
    """Run a program (argv list) in the node's work directory; output its stdout. Needs --allow-shell."""
    if not ctx.settings.get("allow_shell"):
        raise PermissionError("shell nodes need 'dagmill run --allow-shell'")
    try:
        done = await trio.run_process(params.argv, capture_stdout=True, capture_stderr=True, check=False, cwd=ctx.workdir)
    except OSError as exc:
        raise OSError(f"shell: cannot run {params.argv[0]!r}: {exc.strerror or exc}") from None
    if params.check and done.returncode:
        tail = done.stderr.decode(errors="replace").strip()[-500:]
        raise RuntimeError(f"shell: {params.argv[0]!r} exited {done.returncode}" + (f": {tail}" if tail else ""))
    return done.stdout.decode(errors="replace")


@dagmill.node_type("python", params=PythonParams)
async def python(params: PythonParams, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """Call your own function (``module:function``), async on the trio thread or sync in a worker thread."""
    function = import_function(params.function)
    args, kwargs = ([], {**inputs, **params.kwargs}) if isinstance(inputs, dict) else (listed(inputs), dict(params.kwargs))
    if inspect.iscoroutinefunction(function):
        return await function(*args, **kwargs)
    return await trio.to_thread.run_sync(functools.partial(function, *args, **kwargs))


NODE_TYPES = (shell, python)
