"""The plugin manager: entry points and in-code plugins, and what they register."""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import pluggy

from dagmill import hookspecs
from dagmill.executor import Executor
from dagmill.model import NodeType
from dagmill.scheduler import Scheduler

ENTRY_POINT_GROUP = "dagmill"
_KEPT = 8


@attrs.frozen
class PluginInfo:
    """A registered plugin and what it provides; ``distribution`` is ``None`` for in-code plugins."""

    name: str
    distribution: str | None
    node_types: tuple[str, ...] = ()
    schedulers: tuple[str, ...] = ()
    executors: tuple[str, ...] = ()


@attrs.frozen
class PluginFailure:
    """A plugin that could not be imported or registered, and why."""

    name: str
    distribution: str | None
    error: str

    def __str__(self) -> str:
        where = f" (from {self.distribution})" if self.distribution else ""
        return f"plugin {self.name!r}{where}: {self.error}"


@attrs.frozen
class _Source:
    name: str
    plugin: object
    distribution: str | None


class Registry:
    """Every plugin of a process (or of one run), and the node types, schedulers and executors they provide.

    A plugin that fails to import or register lands in ``failures`` with its
    error; the others load regardless.
    """

    def __init__(self, sources: Iterable[_Source], failures: Iterable[PluginFailure] = ()) -> None:
        self._sources = tuple(sources)
        self._extended: dict[tuple[int, ...], tuple[tuple[object, ...], Registry]] = {}
        self.failures: list[PluginFailure] = list(failures)
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.node_types: dict[str, NodeType] = {}
        self.schedulers: dict[str, type[Scheduler]] = {}
        self.executors: dict[str, type[Executor]] = {}
        self.plugins: list[PluginInfo] = []
        registered = []
        for source in self._sources:
            try:
                self.pm.register(source.plugin, name=source.name)
                unknown = [h.name for h in self.pm.get_hookcallers(source.plugin) or () if h.spec is None]
                if unknown:
                    self.pm.unregister(source.plugin)
                    raise ValueError(f"implements unknown hook(s): {', '.join(sorted(unknown))}")
            except Exception as exc:  # a third party's broken plugin must not stop the others
                self._fail(source, exc)
            else:
                registered.append(source)
        for source in registered:
            self._collect(source)

    @classmethod
    def discover(cls, plugins: Sequence[object] = ()) -> Registry:
        """Load the ``dagmill`` entry-point group, then add ``plugins`` (objects registered in code)."""
        sources: list[_Source] = []
        failures: list[PluginFailure] = []
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else None
            try:
                sources.append(_Source(ep.name, ep.load(), dist))
            except Exception as exc:  # reported by name; the others still load
                failures.append(PluginFailure(ep.name, dist, f"{type(exc).__name__}: {exc}"))
        registry = cls(sources, failures)
        return registry.with_plugins(plugins) if plugins else registry

    def with_plugins(self, plugins: Sequence[object]) -> Registry:
        """A registry with this one's plugins plus ``plugins`` (registered in code).

        The last few combinations are kept, so running again with the same
        plugin objects does not rebuild the plugin manager.
        """
        if not plugins:
            return self
        key = tuple(map(id, plugins))
        kept = self._extended.pop(key, None)
        if kept is None:
            entry_failures = [f for f in self.failures if f.distribution is not None]
            extra = [_Source(_plugin_name(p), p, None) for p in plugins]
            kept = (tuple(plugins), Registry(self._sources + tuple(extra), entry_failures))
        self._extended[key] = kept  # holding the plugins keeps their ids from being reused
        while len(self._extended) > _KEPT:
            del self._extended[next(iter(self._extended))]
        return kept[1]

    @property
    def hook(self) -> Any:
        """The pluggy hook relay (``registry.hook.dagmill_run_start(run=...)``)."""
        return self.pm.hook

    def distribution_of(self, kind: str, name: str) -> str | None:
        """The distribution of the plugin that provides ``name`` of ``kind`` (``node_types``, ...)."""
        for info in self.plugins:
            if name in getattr(info, kind):
                return info.distribution
        return None

    def _fail(self, source: _Source, exc: BaseException) -> None:
        self.failures.append(PluginFailure(source.name, source.distribution, f"{type(exc).__name__}: {exc}"))

    def _collect(self, source: _Source) -> None:
        provided: dict[str, list[str]] = {"node_types": [], "schedulers": [], "executors": []}
        checks = (
            ("node_types", "dagmill_node_types", self.node_types, _check_node_type),
            ("schedulers", "dagmill_schedulers", self.schedulers, _check_scheduler),
            ("executors", "dagmill_executors", self.executors, _check_executor),
        )
        try:
            for kind, hook_name, table, check in checks:
                for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                    if impl.plugin is not source.plugin:
                        continue
                    for item in impl.function() or ():
                        name = check(item)
                        if name in table:
                            owner = next(p.name for p in self.plugins if name in getattr(p, kind))
                            raise ValueError(f"{kind[:-1].replace('_', ' ')} {name!r} is already provided by {owner!r}")
                        table[name] = item
                        provided[kind].append(name)
        except Exception as exc:  # reported by name; the others still load
            for kind, names in provided.items():
                table = getattr(self, kind)
                for name in names:
                    del table[name]
            self.pm.unregister(source.plugin)
            self._fail(source, exc)
            return
        self.plugins.append(
            PluginInfo(
                source.name,
                source.distribution,
                tuple(provided["node_types"]),
                tuple(provided["schedulers"]),
                tuple(provided["executors"]),
            )
        )


def _plugin_name(plugin: object) -> str:
    name = getattr(plugin, "__name__", None) or type(plugin).__name__
    return f"{name}@{id(plugin):x}"


def _check_node_type(item: object) -> str:
    if not isinstance(item, NodeType):
        raise TypeError(f"dagmill_node_types returned {item!r}, not a dagmill.NodeType")
    return item.name


def _check_scheduler(item: object) -> str:
    if not (isinstance(item, type) and issubclass(item, Scheduler) and isinstance(getattr(item, "name", None), str)):
        raise TypeError(f"dagmill_schedulers returned {item!r}, not a named dagmill.Scheduler subclass")
    return item.name


def _check_executor(item: object) -> str:
    if not (isinstance(item, type) and issubclass(item, Executor) and isinstance(getattr(item, "name", None), str)):
        raise TypeError(f"dagmill_executors returned {item!r}, not a named dagmill.Executor subclass")
    return item.name


@functools.cache
def default_registry() -> Registry:
    """The process-wide registry of every installed plugin (discovered once)."""
    return Registry.discover()


def registry_for(plugins: Sequence[object] = (), registry: Registry | None = None) -> Registry:
    """``registry`` (or the default one) plus the in-code ``plugins``."""
    return (registry or default_registry()).with_plugins(plugins)
