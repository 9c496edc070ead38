"""dagmill: a pluggable workflow engine on trio, with dynamic scheduling and plugin node types.

The public API is what this module exports; everything else is private.
"""

from dagmill.api import arun, run
from dagmill.builder import WorkflowBuilder
from dagmill.context import NodeContext, Variables
from dagmill.errors import (
    DagmillError,
    NodeTimeoutError,
    Problem,
    NodeStalledError,
    SchedulerError,
    UsageError,
    WorkflowError,
)
from dagmill.executor import Deferred, Executor
from dagmill.graph import CycleError, Graph
from dagmill.hookspecs import hookimpl, hookspec
from dagmill.load import load, loads
from dagmill.model import Defaults, Edge, FailPolicy, Node, NodeType, Status, Workflow, node_type
from dagmill.registry import PluginFailure, PluginInfo, Registry, default_registry
from dagmill.resources import PoolStatistics, ResourcePool
from dagmill.result import LevelResult, NodeResult, RunResult, StoredResult
from dagmill.run import Run, RunOptions, RunStatistics, auto_concurrency
from dagmill.scheduler import Scheduler

__all__ = [
    "CycleError",
    "DagmillError",
    "Defaults",
    "Deferred",
    "Edge",
    "Executor",
    "FailPolicy",
    "Graph",
    "LevelResult",
    "Node",
    "NodeContext",
    "NodeResult",
    "NodeStalledError",
    "NodeTimeoutError",
    "NodeType",
    "PluginFailure",
    "PluginInfo",
    "PoolStatistics",
    "Problem",
    "Registry",
    "ResourcePool",
    "Run",
    "RunOptions",
    "RunResult",
    "RunStatistics",
    "Scheduler",
    "SchedulerError",
    "Status",
    "StoredResult",
    "UsageError",
    "Variables",
    "Workflow",
    "WorkflowBuilder",
    "WorkflowError",
    "arun",
    "auto_concurrency",
    "default_registry",
    "hookimpl",
    "hookspec",
    "load",
    "loads",
    "node_type",
    "run",
]
