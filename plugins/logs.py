"""Structured log lines per run and node on stdlib logging: ``-v``, ``--log-level``, ``--log-json``.

Records go to the ``dagmill`` logger hierarchy with their fields as
attributes (``run_id``, ``workflow``, ``node``, ``status``, ...): text
handlers print them as ``key=value`` pairs, ``--log-json`` as one JSON
object per line. Node records are DEBUG (each end) and WARNING (failures);
run records are INFO. The per-node hooks are registered only when the level
lets node records through, so a quiet run pays nothing for them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

import dagmill

_RUN = logging.getLogger("dagmill.run")
_NODE = logging.getLogger("dagmill.node")
_FIELDS = ("run_id", "workflow", "scheduler", "node", "type", "status", "attempts", "duration", "error", "counts")
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class TextFormatter(logging.Formatter):
    """``2026-11-24T20:41:21Z INFO dagmill.run run ended run_id=... status=succeeded``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        fields = " ".join(f"{k}={json.dumps(getattr(record, k))}" for k in _FIELDS if hasattr(record, k))
        return f"{stamp} {record.levelname} {record.name} {record.getMessage()}" + (f" {fields}" if fields else "")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": record.created,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((k, getattr(record, k)) for k in _FIELDS if hasattr(record, k))
        return json.dumps(entry, default=repr)


class RunLog:
    """Plugin object that logs each run and node; pass it in code with ``plugins=[RunLog()]``."""

    @dagmill.hookimpl
    def dagmill_run_start(self, run: dagmill.Run) -> None:
        fields = {"run_id": run.run_id, "workflow": run.workflow.name, "scheduler": run.options.scheduler}
        _RUN.info("run started", extra=fields)

    @dagmill.hookimpl
    def dagmill_node_end(self, run: dagmill.Run, node: dagmill.Node, result: dagmill.NodeResult) -> None:
        failed = result.status is dagmill.Status.FAILED
        level = logging.WARNING if failed else logging.DEBUG
        if _NODE.isEnabledFor(level):
            fields = {
                "run_id": run.run_id,
                "node": node.id,
                "type": node.type,
                "status": result.status.value,
                "attempts": result.attempts,
                "duration": result.duration,
            }
            if failed:
                fields["error"] = result.error
            _NODE.log(level, "node %s", result.status.value, extra=fields)

    @dagmill.hookimpl
    def dagmill_run_end(self, run: dagmill.Run, result: dagmill.RunResult) -> None:
        fields = {
            "run_id": run.run_id,
            "workflow": result.workflow,
            "status": result.status.value,
            "duration": result.duration,
            "counts": result.counts(),
        }
        if result.error:
            fields["error"] = result.error
        _RUN.info("run ended", extra=fields)


def configure(level: str, as_json: bool) -> None:
    """Send the ``dagmill`` loggers to stderr at ``level``, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    root = logging.getLogger("dagmill")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


@dagmill.hookimpl
def dagmill_addoption(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more: -v for runs, -vv for every node")
    parser.add_argument("--log-level", type=str.upper, choices=_LEVELS, help="log level (overrides -v; default WARNING)")
    parser.add_argument("--log-json", action="store_true", help="log one JSON object per line")


@dagmill.hookimpl
def dagmill_configure(options: argparse.Namespace, registry: dagmill.Registry) -> None:
    level = options.log_level or _LEVELS[max(0, 2 - options.verbose)]
    configure(level, options.log_json)
    if logging.getLogger("dagmill").isEnabledFor(logging.INFO):
        registry.pm.register(RunLog())
