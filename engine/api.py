"""The public entry points of a run: :func:`run` (sync) and :func:`arun` (inside trio)."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import trio

from dagmill.load import load
from dagmill.model import FailPolicy, Workflow
from dagmill.registry import Registry, registry_for
from dagmill.result import RunResult
from dagmill.run import Run, RunOptions
from dagmill.errors import UsageError

WorkflowSource = Workflow | Mapping[str, Any] | str | os.PathLike[str]
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""A run id names files and directories (the run's work directory, reports), so it is a plain file name."""


def _options(
    scheduler: str,
    max_concurrency: int | str,
    executor: str | None,
    fail_policy: FailPolicy | str,
    timeout: float | None,
    keep_outputs: bool,
    cancel_stalled: bool,
    run_id: str | None,
    workdir: str | os.PathLike[str] | None,
    settings: Mapping[str, Any] | None,
) -> RunOptions:
    try:
        policy = FailPolicy(fail_policy)
    except ValueError:
        raise UsageError(f"fail_policy: expected one of {', '.join(FailPolicy)}, got {fail_policy!r}") from None
    if timeout is not None and not timeout > 0:
        raise UsageError(f"timeout: expected a number of seconds > 0, got {timeout!r}")
    if run_id is not None and not (isinstance(run_id, str) and _RUN_ID.fullmatch(run_id)):
        raise UsageError(
            f"run_id: expected up to 128 letters, digits, '.', '_' or '-', starting with a letter or digit, got {run_id!r}"
        )
    if workdir is not None:
        path = Path(workdir)
        existing = next((p for p in (path, *path.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise UsageError(f"workdir: {existing} exists and is not a directory")
    return RunOptions(
        scheduler=scheduler,
        max_concurrency=max_concurrency,
        executor=executor,
        fail_policy=policy,
        timeout=timeout,
        keep_outputs=keep_outputs,
        cancel_stalled=cancel_stalled,
        run_id=run_id,
        workdir=Path(workdir) if workdir is not None else None,
        settings=dict(settings or {}),
    )


async def arun(
    workflow: WorkflowSource,
    *,
    scheduler: str = "level",
    max_concurrency: int | str = "auto",
    executor: str | None = None,
    fail_policy: FailPolicy | str = FailPolicy.FAIL_FAST,
    timeout: float | None = None,
    keep_outputs: bool = False,
    cancel_stalled: bool = False,
    plugins: Sequence[object] = (),
    registry: Registry | None = None,
    run_id: str | None = None,
    workdir: str | os.PathLike[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    handle_signals: bool = False,
) -> RunResult:
    """Run ``workflow`` inside the caller's trio program and return its :class:`RunResult`.

    ``workflow`` is a :class:`Workflow` or anything :func:`dagmill.load`
    accepts. ``plugins`` are registered for this run only, beside the
    installed ones. With ``handle_signals``, SIGINT and SIGTERM cancel the run
    (status ``cancelled``) and a second one exits the process at once.
    Cancellation from the caller's own scopes propagates as usual.
    Raises :class:`WorkflowError` or :class:`UsageError` before anything runs.
    """
    reg = registry_for(plugins, registry)
    options = _options(
        scheduler, max_concurrency, executor, fail_policy, timeout, keep_outputs, cancel_stalled, run_id, workdir, settings
    )
    return await Run(load(workflow, registry=reg), options, reg)._main(handle_signals)


def run(
    workflow: WorkflowSource,
    *,
    scheduler: str = "level",
    max_concurrency: int | str = "auto",
    executor: str | None = None,
    fail_policy: FailPolicy | str = FailPolicy.FAIL_FAST,
    timeout: float | None = None,
    keep_outputs: bool = False,
    cancel_stalled: bool = False,
    plugins: Sequence[object] = (),
    registry: Registry | None = None,
    run_id: str | None = None,
    workdir: str | os.PathLike[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    handle_signals: bool | None = None,
) -> RunResult:
    """Run ``workflow`` to completion in a new trio event loop (see :func:`arun`).

    Signals are handled (Ctrl-C cancels the run cleanly) when called from the
    main thread, unless ``handle_signals=False``.
    """
    if handle_signals is None:
        handle_signals = threading.current_thread() is threading.main_thread()
    return trio.run(
        lambda: arun(
            workflow,
            scheduler=scheduler,
            max_concurrency=max_concurrency,
            executor=executor,
            fail_policy=fail_policy,
            timeout=timeout,
            keep_outputs=keep_outputs,
            cancel_stalled=cancel_stalled,
            plugins=plugins,
            registry=registry,
            run_id=run_id,
            workdir=workdir,
            settings=settings,
            handle_signals=handle_signals,
        )
    )
