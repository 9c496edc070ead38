"""The run journal: every run and node state change in SQLite; resume after a crash; a result cache; learned durations.

``dagmill run`` keeps a journal by default (``.dagmill/journal.sqlite3`` in
the working directory; ``--journal PATH``, ``--no-journal``). Embedded use::

    from dagmill.plugins.journal import Journal

    with Journal("runs.sqlite3") as journal:
        first = dagmill.run(workflow, plugins=[journal])
    with Journal("runs.sqlite3", resume=first.run_id) as journal:
        again = dagmill.run(workflow, plugins=[journal])  # what succeeded before is ``cached``

The journal is one SQLite database in WAL mode. ``runs`` has a row per run,
``events`` a row per node state change (``running``, ``stalled`` and the
final status). A node's stored output is a column of its own ``succeeded``
row, so whatever instant a process is killed at, the journal holds both or
neither; a ``cached`` row points at the row whose output it reused.

Writes never happen on the trio thread: ``dagmill_node_end`` encodes the
output (a snapshot, taken before any consumer can change it) and puts one
tuple on a queue; a writer thread commits whatever has queued up in one
transaction, so a busy run pays one commit per batch, not per node. The
trio thread reads the journal only when a run starts (the runs it resumes,
the cache index, learned durations) and when a node is reused (one read of
its stored output, in place of running it).
"""

from __future__ import annotations

import argparse
import atexit
import functools
import itertools
import json
import logging
import math
import os
import pickle
import queue
import socket
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

import dagmill

DEFAULT_PATH = Path(".dagmill", "journal.sqlite3")
DEFAULT_MAX_OUTPUT = 16 * 2**20
"""Bytes: an encoded output larger than this is not stored (its node is not reusable)."""

SCHEMA_VERSION = 1
APPLICATION_ID = 0x64676D6C  # "dgml" in the database header: this file is a dagmill journal
_SCHEMA = """
CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,
    run_id          TEXT NOT NULL UNIQUE,
    workflow        TEXT NOT NULL,
    status          TEXT NOT NULL,
    started_at      REAL NOT NULL,
    ended_at        REAL,
    duration        REAL,
    nodes           INTEGER NOT NULL,
    scheduler       TEXT NOT NULL,
    max_concurrency INTEGER NOT NULL,
    resumed_from    TEXT,
    pid             INTEGER,
    host            TEXT,
    error           TEXT,
    counts          TEXT,
    levels          TEXT
);
CREATE INDEX runs_by_workflow ON runs (workflow);
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    run         INTEGER NOT NULL REFERENCES runs (id),
    node_id     TEXT NOT NULL,
    status      TEXT NOT NULL,
    at          REAL NOT NULL,
    level       INTEGER,
    ready_at    REAL,
    started_at  REAL,
    fingerprint TEXT,
    cache       INTEGER NOT NULL DEFAULT 0,
    attempts    INTEGER,
    duration    REAL,
    stalled     INTEGER NOT NULL DEFAULT 0,
    detail      TEXT,
    traceback   TEXT,
    output_id   INTEGER REFERENCES events (id),
    serializer  TEXT,
    output      BLOB
);
CREATE INDEX events_by_run ON events (run);
CREATE INDEX cache_entries ON events (fingerprint) WHERE cache = 1;
"""
"""``at`` is when the row's state began (seconds since the epoch); ``ready_at`` and ``started_at`` are seconds
since the run started, as in the result. ``output`` holds a ``succeeded`` node's output, encoded with
``serializer`` (``NULL`` when not stored: ``detail`` says why); ``output_id`` of a ``cached`` row names the row
whose output the run reused. ``cache`` is 1 on the succeeded rows of cacheable nodes whose output is stored: the
cache's entries, and the only rows indexed by fingerprint. ``run`` numbers rows of ``runs``, so a run's events
go to the end of their index. ``runs.levels`` holds the per-level timings of a run that ended, as JSON."""
_EVENT_COLUMNS = (
    "run, node_id, status, at, level, ready_at, started_at, fingerprint, cache, attempts, duration, stalled, detail,"
    " traceback, output_id, serializer, output"
)
_EVENT_SQL = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({', '.join('?' * 17)})"
_SUCCEEDED_SQL = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, 'succeeded', ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, NULL, NULL, ?, ?)"
"""The row of a node that succeeded, was not stalled and whose output is stored, the most common by far: 12 values
to bind, not 17 (binding is most of a row's cost, and the writer does it holding the GIL)."""
_SQL_BY_WIDTH = {17: _EVENT_SQL, 12: _SUCCEEDED_SQL}
_REUSABLE = ("succeeded", "cached")
_FINAL = frozenset(s.value for s in dagmill.Status if s not in (dagmill.Status.PENDING, dagmill.Status.RUNNING))
_SUCCEEDED = dagmill.Status.SUCCEEDED
_CACHED = dagmill.Status.CACHED
_SCALARS = (str, int, float, bool)
_SNAPSHOT_EVERY = 1.0
"""Seconds between two looks at which nodes are running (the ``running`` rows)."""
_BATCH = 10_000
_GATHER = 0.02
"""Seconds the writer lets rows gather before a commit (unless a flush is awaited): one commit per batch, not per node,
and a kill -9 costs at most the nodes that ended in that window (they run again on resume)."""
_RECENT = 5
"""Learned durations average this many latest successes."""
_HISTORY = 20
"""Learned durations come from this many latest runs of the workflow."""

_log = logging.getLogger("dagmill.journal")


# -- opening -------------------------------------------------------------------------


def _connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit); nothing is written by connecting."""
    target = f"{path.absolute().as_uri()}?mode=ro" if read_only else str(path)
    return sqlite3.connect(target, uri=read_only, timeout=60, isolation_level=None, check_same_thread=False)


def _for_writing(conn: sqlite3.Connection) -> sqlite3.Connection:
    conn.execute("PRAGMA journal_mode = WAL")
    # WAL + NORMAL: a commit survives any process crash (kill -9); only a power loss may drop the last commits
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _unusable(path: Path, exc: BaseException) -> dagmill.UsageError:
    return dagmill.UsageError(
        f"journal {path}: not a usable dagmill journal ({exc}); move the file away, pass --journal OTHER_PATH, or --no-journal"
    )


def _unwritable(path: Path, exc: BaseException) -> dagmill.UsageError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return dagmill.UsageError(f"journal {path}: cannot write it ({reason}); pass --journal OTHER_PATH, or --no-journal")


def _refusal(path: Path, exc: sqlite3.Error) -> dagmill.UsageError:
    """Why the journal cannot be used: SQLite's operational errors (read-only, full, locked, cannot open) are about
    writing it; the other database errors (not a database, malformed) about its contents."""
    return _unwritable(path, exc) if isinstance(exc, sqlite3.OperationalError) else _unusable(path, exc)


def _check(conn: sqlite3.Connection, path: Path) -> bool:
    """Whether ``conn`` is a dagmill journal (``False``: an empty database); raise for anything else."""
    try:
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if application_id == 0 and version == 0 and tables == 0:
            return False
        if application_id != APPLICATION_ID:
            raise _unusable(path, ValueError("an SQLite database of something else"))
        if version > SCHEMA_VERSION:
            raise _unusable(path, ValueError(f"schema {version}, written by a newer dagmill"))
        # touch each table's root page: a truncated or scribbled-on file fails here, before the run, not in the middle
        conn.execute("SELECT count(*) FROM runs").fetchone()
        conn.execute("SELECT max(id) FROM events").fetchone()
    except sqlite3.Error as exc:
        raise _refusal(path, exc) from None
    return True


def _open(path: Path) -> sqlite3.Connection:
    """A connection to the journal at ``path``, created if absent; :class:`dagmill.UsageError` if unusable."""
    if "\0" in str(path):  # only a config file can carry one; the file system refuses it with a ValueError
        raise dagmill.UsageError(f"journal {str(path)!r}: not a file name (it holds a NUL character)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        conn = _connect(path)
    except sqlite3.Error as exc:
        raise _refusal(path, exc) from None
    try:
        fresh = not _check(conn, path)  # before anything is written: a file that is not ours stays as it was
        _for_writing(conn)
        if fresh:
            conn.executescript(
                f"BEGIN IMMEDIATE; PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION}; {_SCHEMA} COMMIT;"
            )
    except sqlite3.Error as exc:
        conn.close()
        raise _refusal(path, exc) from None
    except dagmill.UsageError:
        conn.close()
        raise
    return conn


def _open_existing(path: Path) -> sqlite3.Connection:
    """A read-only connection to an existing journal (``dagmill runs``, ``dagmill show``)."""
    if not path.is_file():
        raise dagmill.UsageError(f"no journal at {path} (pass --journal PATH)")
    try:
        conn = _connect(path, read_only=True)
    except sqlite3.Error as exc:
        raise _refusal(path, exc) from None
    try:
        if not _check(conn, path):
            raise _unusable(path, ValueError("an empty database"))
    except dagmill.UsageError:
        conn.close()
        raise
    return conn


# -- encoding outputs ------------------------------------------------------------------


def _encode(output: Any, serializer: str, cap: int) -> tuple[str | bytes | None, str | None]:
    """``(data, None)`` to store, or ``(None, why it is not stored)``."""
    if output is None:
        return "null", None
    if isinstance(output, dagmill.Deferred):
        return None, "the output stays with its executor (a Deferred): not stored"
    if serializer == "pickle":
        try:
            data: str | bytes = pickle.dumps(output, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # any object may refuse pickling in its own way
            return None, f"the output cannot be pickled ({type(exc).__name__}: {exc})"
    else:
        try:
            data = json.dumps(output)  # ASCII: its length is its size in bytes
        except (TypeError, ValueError, RecursionError) as exc:
            return None, f"the output is not JSON ({exc}); a node type that declares serializer='pickle' can store it"
    if len(data) > cap:
        return None, f"the output is {len(data)} bytes, over the journal's cap of {cap} bytes (--journal-cap)"
    # a tuple comes back a list, an int key a str: store only what reads back equal
    if serializer != "pickle" and type(output) not in _SCALARS and json.loads(data) != output:
        return None, "the output does not read back equal from JSON (a tuple, a set, non-string keys?); a node type that declares serializer='pickle' can store it"
    return data, None


def _decode(serializer: str, data: str | bytes) -> Any:
    if serializer == "pickle":
        return pickle.loads(data)  # noqa: S301 - the journal is the user's own file, as trusted as their code
    return json.loads(data)


# -- the writer thread ------------------------------------------------------------------

_SQL, _WATCH, _UNWATCH, _FLUSH, _STOP = range(5)
_live_writers: weakref.WeakSet[_Writer] = weakref.WeakSet()


class _Message:
    """A queued instruction to the writer other than a row: ``kind`` and its arguments."""

    __slots__ = ("kind", "args")

    def __init__(self, kind: int, *args: Any) -> None:
        self.kind = kind
        self.args = args


class _Writer(threading.Thread):
    """The one thread that writes to a journal: whatever has queued up, in one transaction.

    The queue holds ``events`` rows (plain tuples: the 17 columns in order, or
    the 12 values of ``_SUCCEEDED_SQL``) and :class:`_Message` s: ``_SQL`` (a
    statement and its parameters), ``_WATCH`` / ``_UNWATCH`` (a run whose
    running nodes it records, with its number), ``_FLUSH`` (an event to set
    once all before it is committed), ``_STOP``.
    After a failed write (disk full, I/O error) it writes nothing more:
    ``error`` says why, and what was committed before stays consistent.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(name=f"dagmill-journal {path}", daemon=True)
        self.path = path
        self.queue: queue.SimpleQueue[tuple[Any, ...] | _Message] = queue.SimpleQueue()
        self.error: str | None = None
        self._watched: dict[dagmill.Run, tuple[int, set[int]]] = {}
        self._conn: sqlite3.Connection | None = None
        self._urgent = threading.Event()
        _live_writers.add(self)

    def run(self) -> None:
        try:
            self._conn = _for_writing(_connect(self.path))
        except sqlite3.Error as exc:
            self._fail(exc)
        next_look = time.monotonic() + _SNAPSHOT_EVERY
        stopping = False
        while not stopping:
            try:
                first = self.queue.get(timeout=max(0.0, next_look - time.monotonic()) if self._watched else None)
            except queue.Empty:
                first = None
            batch = [] if first is None else [first]
            if first is not None:
                self._urgent.wait(_GATHER)
                self._urgent.clear()
            while len(batch) < _BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            if self._watched and time.monotonic() >= next_look:
                batch.extend(self._running_rows())
                next_look = time.monotonic() + _SNAPSHOT_EVERY
            stopping = self._write(batch)
        if self._conn is not None:
            self._conn.close()
        _live_writers.discard(self)

    def put(self, item: tuple[Any, ...] | _Message) -> None:
        """Queue a row or a message (from any thread)."""
        self.queue.put(item)

    def flush(self) -> None:
        """Return once everything queued so far is committed (or the writer has failed)."""
        if self.is_alive():
            done = threading.Event()
            self.queue.put(_Message(_FLUSH, done))
            self._urgent.set()
            done.wait()

    def stop(self) -> None:
        """Write everything queued, then end the thread."""
        if self.is_alive():
            self.queue.put(_Message(_STOP))
            self._urgent.set()
            self.join()

    def _running_rows(self) -> list[tuple[Any, ...]]:
        """Rows for nodes running now that have none yet: a crashed run's journal says what was in flight."""
        now = time.time()
        rows = []
        for run, (number, seen) in self._watched.items():
            ids, levels = run.graph.ids, run.graph.level
            for i in run.running():
                if i not in seen:
                    seen.add(i)
                    rows.append((number, ids[i], "running", now, levels[i], None, None, None, 0, None, None, 0, None, None, None, None, None))
        return rows

    def _write(self, batch: list[tuple[Any, ...] | _Message]) -> bool:
        """Commit ``batch`` in one transaction; return whether it asked the thread to stop."""
        rows: list[tuple[Any, ...]] = []
        statements: list[tuple[str, tuple[Any, ...]]] = []
        waiting: list[threading.Event] = []
        stopping = False
        for item in batch:
            if type(item) is tuple:
                rows.append(item)
                continue
            kind, args = item.kind, item.args  # type: ignore[union-attr]
            if kind == _SQL:
                statements.append(args)
            elif kind == _WATCH:
                self._watched[args[0]] = (args[1], set())
            elif kind == _UNWATCH:
                self._watched.pop(args[0], None)
            elif kind == _FLUSH:
                waiting.append(args[0])
            else:
                stopping = True
        conn = self._conn
        if conn is not None and self.error is None and (rows or statements):
            try:
                conn.execute("BEGIN IMMEDIATE")
                for width, same_width in itertools.groupby(rows, len):
                    conn.executemany(_SQL_BY_WIDTH[width], same_width)
                for sql, params in statements:
                    conn.execute(sql, params)
                conn.execute("COMMIT")
            except Exception as exc:  # whatever broke the write, the writer must go on answering flushes
                self._fail(exc)
        for done in waiting:
            done.set()
        return stopping

    def _fail(self, exc: BaseException) -> None:
        self.error = f"{type(exc).__name__}: {exc}"
        if self._conn is not None and self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the connection is beyond use; what was committed before is intact either way
        _log.warning(
            "journal %s: writing failed (%s): the journal stops here and the run goes on; what it recorded before stays consistent and resumable",
            self.path,
            exc,
        )


@atexit.register
def _stop_writers() -> None:
    """An embedding program that exits with a run that never ended still gets its queued rows written."""
    for writer in list(_live_writers):
        writer.stop()


# -- one run ---------------------------------------------------------------------------------


@attrs.frozen
class _Candidate:
    """A stored output that a resumed run may reuse for one node: from which run, for which fingerprint, in which row."""

    run_id: str
    fingerprint: str
    output_id: int


class _RunState:
    """What the journal keeps for one run while it goes (all on the trio thread)."""

    __slots__ = (
        "number", "started_at", "put", "writer", "index", "types", "candidates", "lineage", "cache_index",
        "cacheable", "reused", "origins", "resumed", "hits", "misses", "unstored", "estimates",
    )

    def __init__(
        self,
        run: dagmill.Run,
        number: int,
        writer: _Writer,
        candidates: dict[str, list[_Candidate]],
        lineage: dict[str, dict[str, int]],
        cache_index: dict[str, int] | None,
        cacheable: frozenset[int],
    ) -> None:
        self.number = number
        """The run's row in ``runs``."""
        self.started_at = run.started_at
        self.writer = writer
        self.put = writer.queue.put
        self.index = run.graph.index
        self.types = run.registry.node_types
        self.candidates = candidates
        """Per node id, the stored outputs it may reuse, newest run first."""
        self.lineage = lineage
        """Per resumed run, the row of the output each node had there."""
        self.cache_index = cache_index
        """Per fingerprint of a cacheable node, the row of its latest stored output (``None``: no cache lookups)."""
        self.cacheable = cacheable
        """The nodes whose stored outputs become cache entries."""
        self.reused: dict[int, int] = {}
        """Node index -> the row of the output it was given from the journal, in this run."""
        self.origins: dict[int, str] = {}
        self.resumed = 0
        self.hits = 0
        self.misses = 0
        self.unstored: dict[str, str] = {}
        self.estimates: tuple[dict[str, float], dict[str, float]] | None = None


# -- the plugin ------------------------------------------------------------------------------


class Journal:
    """Records runs in the journal at ``path``; reuses stored outputs for ``resume`` and cacheable nodes.

    ``resume`` names an earlier run: its nodes (and those of the runs it
    resumed) that succeeded are reused — status ``cached`` — when their
    fingerprint is unchanged and the inputs they were computed from are the
    very outputs this run uses. ``cache`` lets nodes that ask for caching
    (``run.cacheable(node)``) reuse any stored output with their fingerprint,
    from any run of any workflow. Outputs encoding to more than
    ``max_output`` bytes are not stored. One object serves any number of
    runs; :meth:`close` (or leaving the ``with`` block) writes what is queued.
    Raises :class:`dagmill.UsageError` when the journal cannot be used.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        *,
        resume: str | None = None,
        cache: bool = True,
        max_output: int = DEFAULT_MAX_OUTPUT,
    ) -> None:
        self.path = Path(path)
        self.resume = resume
        self.cache = cache
        self.max_output = max_output
        self._conn = _open(self.path)
        self._lock = threading.Lock()
        self._writer: _Writer | None = None
        self._runs: dict[dagmill.Run, _RunState] = {}
        if resume is not None:
            self._resumed_run(resume)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Write whatever is queued and stop the writer thread; the object can still record later runs."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.stop()

    # -- hooks --------------------------------------------------------------------------------

    @dagmill.hookimpl(tryfirst=True)
    def dagmill_run_start(self, run: dagmill.Run) -> None:
        # first of all plugins: a journal that cannot be used stops the run before anyone else starts anything
        if self.resume is not None:
            workflow = self._resumed_run(self.resume)[1]
            if workflow != run.workflow.name:
                raise dagmill.UsageError(f"--resume {self.resume}: that run is of workflow {workflow!r}, not {run.workflow.name!r}")
        try:
            candidates, lineage = self._load_resume(self.resume) if self.resume is not None else ({}, {})
            cacheable = frozenset(i for i, node in enumerate(run.workflow.nodes) if run.cacheable(node))
            cache_index = self._load_cache_index(run, cacheable) if self.cache else None
        except sqlite3.Error as exc:
            raise _refusal(self.path, exc) from None
        row = (
            run.run_id, run.workflow.name, "running", run.started_at, len(run.graph), run.options.scheduler,
            run.max_concurrency, self.resume, os.getpid(), socket.gethostname(),
        )
        try:
            number = self._conn.execute(
                "INSERT INTO runs (run_id, workflow, status, started_at, nodes, scheduler, max_concurrency, resumed_from, pid, host)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            ).lastrowid
        except sqlite3.IntegrityError:
            raise dagmill.UsageError(f"journal {self.path}: run id {run.run_id!r} is already recorded; choose another --run-id") from None
        except sqlite3.Error as exc:
            raise _refusal(self.path, exc) from None
        assert number is not None
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = _Writer(self.path)
                self._writer.start()
            writer = self._writer
        writer.put(_Message(_WATCH, run, number))
        self._runs[run] = _RunState(run, number, writer, candidates, lineage, cache_index, cacheable)

    @dagmill.hookimpl
    def dagmill_node_lookup(self, run: dagmill.Run, node: dagmill.Node, fingerprint: str) -> dagmill.StoredResult | None:
        state = self._runs.get(run)
        if state is None or not (state.candidates or state.cache_index is not None):
            return None
        i = state.index[node.id]
        for candidate in state.candidates.get(node.id, ()):
            if candidate.fingerprint == fingerprint and self._same_inputs(run, state, i, candidate.run_id):
                found = self._load(state, i, candidate.output_id, f"run {candidate.run_id}")
                if found is not None:
                    state.resumed += 1
                    return found
        if state.cache_index is not None and i in state.cacheable:
            output_id = state.cache_index.get(fingerprint)
            found = None if output_id is None else self._load(state, i, output_id, "cache")
            if found is not None:
                state.hits += 1
            return found
        return None

    @dagmill.hookimpl
    def dagmill_lookup_scope(self, run: dagmill.Run) -> Iterable[int]:
        state = self._runs.get(run)
        if state is None:
            return ()
        scope = {state.index[node_id] for node_id in state.candidates if node_id in state.index}
        if state.cache_index:
            scope.update(i for i in state.cacheable if run.fingerprint(i) in state.cache_index)
        return scope

    @dagmill.hookimpl
    def dagmill_node_estimate(self, run: dagmill.Run, node: dagmill.Node) -> float | None:
        state = self._runs.get(run)
        if state is None:
            return None
        if state.estimates is None:
            try:
                state.estimates = self._load_estimates(run)
            except sqlite3.DatabaseError as exc:
                _log.warning("journal %s: cannot read durations (%s); the run uses the documents' estimates", self.path, exc)
                state.estimates = ({}, {})
        by_fingerprint, by_id = state.estimates
        if node.id not in by_id:
            return None
        learned = by_fingerprint.get(run.fingerprint(state.index[node.id]))
        return by_id[node.id] if learned is None else learned

    @dagmill.hookimpl
    def dagmill_node_stalled(self, run: dagmill.Run, node: dagmill.Node, silent_for: float) -> None:
        state = self._runs.get(run)
        if state is not None:
            detail = f"no heartbeat for {silent_for:.3g}s"
            i = state.index[node.id]
            state.put((state.number, node.id, "stalled", time.time(), run.graph.level[i], None, None, None, 0, None, None, 1, detail, None, None, None, None))

    @dagmill.hookimpl
    def dagmill_node_end(self, run: dagmill.Run, node: dagmill.Node, result: dagmill.NodeResult) -> None:
        state = self._runs.get(run)
        if state is None:
            return
        i = state.index[node.id]
        status = result.status
        at = state.started_at + (result.ended_at or 0.0)
        if state.cache_index is not None and result.attempts and i in state.cacheable:
            state.misses += 1  # a cacheable node that ran: the cache did not have it
        if status is _SUCCEEDED or (status is _CACHED and i not in state.reused):
            serializer = state.types[node.type].serializer
            data, why = _encode(run.output(i), serializer, self.max_output)
            if why is None and status is _SUCCEEDED and not result.stalled:
                state.put((
                    state.number, node.id, at, result.level, result.ready_at, result.started_at, run.fingerprint(i),
                    i in state.cacheable, result.attempts, result.duration, serializer, data,
                ))
                return
            if why is not None:
                state.unstored[node.id] = why
            state.put((
                state.number, node.id, status, at, result.level, result.ready_at, result.started_at, run.fingerprint(i),
                why is None and i in state.cacheable, result.attempts, result.duration, result.stalled,
                None if why is None else f"not resumable: {why}", None, None, None if data is None else serializer, data,
            ))
        elif status is _CACHED:
            state.put((
                state.number, node.id, status, at, result.level, result.ready_at, result.started_at, run.fingerprint(i), 0,
                0, None, False, state.origins.pop(i), None, state.reused[i], None, None,
            ))
        else:
            state.put((
                state.number, node.id, status, at, result.level, result.ready_at, result.started_at, None, 0,
                result.attempts, result.duration, result.stalled, result.error, result.traceback, None, None, None,
            ))

    @dagmill.hookimpl
    def dagmill_run_end(self, run: dagmill.Run, result: dagmill.RunResult) -> None:
        state = self._runs.pop(run, None)
        if state is None:
            return
        writer = state.writer
        writer.put(
            _Message(
                _SQL,
                "UPDATE runs SET status = ?, ended_at = ?, duration = ?, error = ?, counts = ?, levels = ? WHERE id = ?",
                (
                    result.status.value, time.time(), result.duration, result.error, json.dumps(result.counts()),
                    json.dumps([attrs.asdict(level) for level in result.levels]), state.number,
                ),
            )
        )
        writer.put(_Message(_UNWATCH, run))
        writer.flush()
        facts: dict[str, Any] = {"path": str(self.path), "resumed_from": self.resume, "reused": state.resumed}
        if state.unstored:
            facts["unstored"] = state.unstored
            first, why = next(iter(state.unstored.items()))
            _log.warning(
                "journal %s: %d output(s) not stored, so their nodes re-run on resume (first: node %r: %s)",
                self.path, len(state.unstored), first, why,
            )
        if writer.error is not None:
            facts["error"] = writer.error
        result.extras["journal"] = facts
        if self.cache:
            result.extras["cache"] = {"hits": state.hits, "misses": state.misses}
        with self._lock:
            last = not self._runs and self._writer is writer
            if last:
                self._writer = None
        if last:
            writer.stop()

    # -- reading --------------------------------------------------------------------------------

    def _resumed_run(self, run_id: str) -> tuple[int, str, str | None]:
        """``(number, workflow, resumed_from)`` of ``run_id``; :class:`dagmill.UsageError` if the journal has no such run."""
        try:
            row = self._conn.execute("SELECT id, workflow, resumed_from FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        except sqlite3.Error as exc:
            raise _refusal(self.path, exc) from None
        if row is None:
            raise dagmill.UsageError(f"--resume {run_id}: no such run in journal {self.path} (list them with: dagmill runs)")
        return row

    def _load_resume(self, run_id: str) -> tuple[dict[str, list[_Candidate]], dict[str, dict[str, int]]]:
        """Candidates for reuse, per node id: the stored outputs of ``run_id`` and of the runs it resumed, newest
        first; and per run, the row of each node's output there."""
        candidates: dict[str, list[_Candidate]] = {}
        lineage: dict[str, dict[str, int]] = {}
        chain: list[str] = []
        current: str | None = run_id
        while current is not None and current not in chain:
            chain.append(current)
            row = self._conn.execute("SELECT id, resumed_from FROM runs WHERE run_id = ?", (current,)).fetchone()
            if row is None:
                break
            outputs: dict[str, int] = {}
            rows = self._conn.execute(
                "SELECT node_id, fingerprint, CASE WHEN serializer IS NULL THEN output_id ELSE id END FROM events"
                " WHERE run = ? AND status IN (?, ?) ORDER BY id",
                (row[0], *_REUSABLE),
            )
            for node_id, fingerprint, output_id in rows:
                if output_id is not None:
                    outputs[node_id] = output_id
                    candidates.setdefault(node_id, []).append(_Candidate(current, fingerprint, output_id))
            lineage[current] = outputs
            current = row[1]
        return candidates, lineage

    def _load_cache_index(self, run: dagmill.Run, cacheable: frozenset[int]) -> dict[str, int] | None:
        """The row of the latest cache entry for each cacheable node's fingerprint (one query); ``None`` if none is cacheable."""
        wanted = [run.fingerprint(i) for i in sorted(cacheable)]
        if not wanted:
            return None
        rows = self._conn.execute(
            "SELECT fingerprint, max(id) FROM events WHERE cache = 1 AND fingerprint IN (SELECT value FROM json_each(?)) GROUP BY fingerprint",
            (json.dumps(wanted),),
        )
        return dict(rows)

    def _load_estimates(self, run: dagmill.Run) -> tuple[dict[str, float], dict[str, float]]:
        """Mean durations of the latest successes in this workflow's latest runs: by fingerprint, and by node id."""
        rows = self._conn.execute(
            "SELECT node_id, fingerprint, duration FROM events"
            " WHERE run IN (SELECT id FROM runs WHERE workflow = ? ORDER BY id DESC LIMIT ?) AND status = 'succeeded'"
            " AND typeof(duration) IN ('integer', 'real') ORDER BY id DESC",  # a duration changed by hand is not learned
            (run.workflow.name, _HISTORY),
        )
        by_fingerprint: dict[str, list[float]] = {}
        by_id: dict[str, list[float]] = {}
        for node_id, fingerprint, duration in rows:
            for key, seen in ((fingerprint, by_fingerprint), (node_id, by_id)):
                durations = seen.setdefault(key, [])
                if len(durations) < _RECENT:
                    durations.append(duration)
        return (
            {key: sum(d) / len(d) for key, d in by_fingerprint.items()},
            {key: sum(d) / len(d) for key, d in by_id.items()},
        )

    @staticmethod
    def _same_inputs(run: dagmill.Run, state: _RunState, i: int, past: str) -> bool:
        """Whether every input of node ``i`` is, in this run, the very output it was in run ``past``."""
        then = state.lineage[past]
        ids = run.graph.ids
        for p in run.graph.predecessors[i]:
            now = state.reused.get(p)
            if now is None or then.get(ids[p]) != now:
                return False
        return True

    def _load(self, state: _RunState, i: int, output_id: int, origin: str) -> dagmill.StoredResult | None:
        try:
            row = self._conn.execute(
                "SELECT e.serializer, e.output, r.run_id, e.node_id FROM events AS e JOIN runs AS r ON r.id = e.run WHERE e.id = ?",
                (output_id,),
            ).fetchone()
            value = _decode(row[0], row[1])
        except Exception as exc:  # a stored output that cannot be read is a miss: the node runs again
            _log.warning("journal %s: cannot read stored output %r (%s); the node runs again", self.path, output_id, exc)
            return None
        where = f"{origin}: run {row[2]}, node {row[3]}" if origin == "cache" else origin
        state.reused[i] = output_id
        state.origins[i] = where
        return dagmill.StoredResult(value, origin=where)


# -- the command line ---------------------------------------------------------------------------

_configured: list[Journal] = []


def _bytes(text: str) -> int:
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    scale = units.get(text[-1:].lower(), 1)
    digits = text[:-1] if scale != 1 else text
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number of bytes (suffix K, M or G allowed), got {text!r}")
    return int(digits) * scale


def journal_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The journal the commands use: ``explicit`` (``--journal``), else ``$DAGMILL_JOURNAL``, else :data:`DEFAULT_PATH`."""
    return Path(explicit or os.environ.get("DAGMILL_JOURNAL") or DEFAULT_PATH)


@dagmill.hookimpl
def dagmill_addoption(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--journal", metavar="PATH", help=f"record the run in this journal (default: {DEFAULT_PATH})")
    parser.add_argument("--no-journal", action="store_true", help="record nothing: no journal, no resume, no cache")
    parser.add_argument("--resume", metavar="RUN_ID", help="reuse what run RUN_ID (see: dagmill runs) did that still holds")
    parser.add_argument("--no-cache", action="store_true", help="run cacheable nodes even if the journal has their output")
    parser.add_argument(
        "--journal-cap",
        type=_bytes,
        default=DEFAULT_MAX_OUTPUT,
        metavar="BYTES",
        help="store no output larger than this (suffix K, M, G; default 16M); such a node re-runs on resume",
    )


@dagmill.hookimpl
def dagmill_configure(options: argparse.Namespace, registry: dagmill.Registry) -> None:
    if options.no_journal:
        if options.resume:
            raise dagmill.UsageError("--resume needs the journal: drop --no-journal")
        return
    journal = Journal(journal_path(options.journal), resume=options.resume, cache=not options.no_cache, max_output=options.journal_cap)
    registry.pm.register(journal)
    _configured.append(journal)


@dagmill.hookimpl
def dagmill_unconfigure(options: argparse.Namespace, result: dagmill.RunResult | None) -> None:
    while _configured:
        _configured.pop().close()
    if result is not None and not options.no_journal and not result.ok and not options.quiet:
        print(f"dagmill: resume with: dagmill run {options.file} --resume {result.run_id}", file=sys.stderr)


@dagmill.hookimpl
def dagmill_addcommand(commands: Any) -> None:
    runs = commands.add_parser("runs", help="list the runs in the journal, newest first")
    runs.add_argument("--journal", metavar="PATH", help=f"the journal (default: the one `dagmill run` records to: $DAGMILL_JOURNAL, else the config file's journal, else {DEFAULT_PATH})")
    runs.add_argument("--limit", type=int, default=20, metavar="N", help="show the N newest runs (default 20; 0 = all)")
    runs.add_argument("--json", action="store_true", help="print them as JSON on stdout")
    runs.set_defaults(handler=_runs_command)
    show = commands.add_parser("show", help="show one run of the journal: outcome, failures, stalls, what would re-run")
    show.add_argument("run_id", metavar="RUN_ID")
    show.add_argument("--journal", metavar="PATH", help=f"the journal (default: the one `dagmill run` records to: $DAGMILL_JOURNAL, else the config file's journal, else {DEFAULT_PATH})")
    show.add_argument("--json", action="store_true", help="print the run and its nodes as JSON on stdout")
    show.set_defaults(handler=_show_command)


# -- reading runs back ------------------------------------------------------------------------
# A row changed by hand (SQLite keeps any value in any column) is refused naming the run and what is damaged,
# never a traceback. Only the readers check: the writer is the only one to write, and its path stays as it is.

_RUN_COLUMNS = ("run_id", "workflow", "status", "started_at", "ended_at", "duration", "nodes", "scheduler", "resumed_from", "pid", "host", "error", "counts")


def _text(value: Any) -> bool:
    return type(value) is str


def _integer(value: Any) -> bool:
    return type(value) is int


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _epoch(value: Any) -> bool:
    return _number(value) and 0 <= value < 1e11  # what time.localtime can format


def _pid(value: Any) -> bool:
    return type(value) is int and 0 < value < 2**31  # what os.kill takes, and not a process group


def _or_null(kind: tuple[Callable[[Any], bool], str]) -> tuple[Callable[[Any], bool], str]:
    test, name = kind
    return (lambda value: value is None or test(value)), f"{name} or NULL"


_TEXT = (_text, "text")
_INTEGER = (_integer, "an integer")
_NUMBER = (_number, "a number")
_OPTIONAL_NUMBER = _or_null(_NUMBER)
_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "runs.run_id": _TEXT, "runs.workflow": _TEXT, "runs.status": _TEXT, "runs.started_at": (_epoch, "a time since the epoch"),
    "runs.ended_at": _OPTIONAL_NUMBER, "runs.duration": _OPTIONAL_NUMBER, "runs.nodes": _INTEGER, "runs.scheduler": _TEXT,
    "runs.resumed_from": _or_null(_TEXT), "runs.pid": _or_null((_pid, "a process id")), "runs.host": _or_null(_TEXT),
    "runs.error": _or_null(_TEXT), "runs.counts": _or_null(_TEXT), "runs.max_concurrency": _INTEGER, "runs.levels": _or_null(_TEXT),
    "events.node_id": _TEXT, "events.status": _TEXT, "events.at": _NUMBER, "events.level": _INTEGER,
    "events.ready_at": _OPTIONAL_NUMBER, "events.started_at": _OPTIONAL_NUMBER, "events.attempts": _or_null(_INTEGER),
    "events.duration": _OPTIONAL_NUMBER, "events.stalled": _INTEGER, "events.detail": _or_null(_TEXT),
    "events.traceback": _or_null(_TEXT),
}  # fmt: skip
"""What each column read back must hold: its test and its name in messages."""
_RUN_STATUSES = _FINAL | {"running"}
_EVENT_STATUSES = _RUN_STATUSES | {"stalled"}
_LEVEL_FIELDS = {"level": _integer, "width": _integer, "started_at": _OPTIONAL_NUMBER[0], "ended_at": _OPTIONAL_NUMBER[0], "peak_concurrency": _integer}
"""The keys of each object in ``runs.levels`` (a :class:`dagmill.LevelResult`) and the test of each value."""


def _damaged(path: Path, run_id: Any, what: str) -> dagmill.UsageError:
    return dagmill.UsageError(f"journal {path}: run {run_id}: damaged record ({what})")


@functools.cache
def _checks(table: str, columns: tuple[str, ...]) -> tuple[tuple[str, Callable[[Any], bool], str], ...]:
    return tuple((column, *_KINDS[f"{table}.{column}"]) for column in columns)


def _check_row(path: Path, run_id: Any, table: str, columns: tuple[str, ...], row: Sequence[Any]) -> None:
    """Raise :class:`dagmill.UsageError` unless every value of ``row`` (of ``table``, for run ``run_id``) is of its column's kind."""
    for (column, test, name), value in zip(_checks(table, columns), row, strict=True):
        if test(value) and (column != "status" or value in (_RUN_STATUSES if table == "runs" else _EVENT_STATUSES)):
            continue
        of = f" of node {row[0]}" if table == "events" else ""  # an events row's first column is its node
        what = f"expected {name}, got {value!r}" if not test(value) else f"unknown status {value!r}"
        raise _damaged(path, run_id, f"{table}.{column}{of}: {what}")


def _json(path: Path, run_id: str, column: str, text: str, shape: Callable[[Any], bool], expected: str) -> Any:
    """The JSON value of ``runs.column``, if it has the shape its writer gives it."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise _damaged(path, run_id, f"runs.{column}: not JSON") from None
    if not shape(value):
        raise _damaged(path, run_id, f"runs.{column}: expected {expected}")
    return value


def _is_counts(value: Any) -> bool:
    return type(value) is dict and all(_integer(n) for n in value.values())


def _is_levels(value: Any) -> bool:
    return type(value) is list and all(
        type(level) is dict and level.keys() == _LEVEL_FIELDS.keys() and all(test(level[key]) for key, test in _LEVEL_FIELDS.items())
        for level in value
    )


def _run_record(path: Path, row: Sequence[Any]) -> dict[str, Any]:
    """The ``runs`` row as a record, checked (:class:`dagmill.UsageError` naming the damage); ``died`` for a dead writer."""
    _check_row(path, row[0], "runs", _RUN_COLUMNS, row)
    record = dict(zip(_RUN_COLUMNS, row, strict=True))
    if record["counts"]:
        record["counts"] = _json(path, record["run_id"], "counts", record["counts"], _is_counts, "an object of counts per status")
    else:
        record["counts"] = None
    if record["status"] == "running" and not _alive(record["pid"], record["host"]):
        record["status"] = "died"
    return record


def _alive(pid: int | None, host: str | None) -> bool:
    """Whether the process that wrote a ``running`` row may still be running (assumed so on another host)."""
    if pid is None or host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _runs_command(options: argparse.Namespace) -> int:
    path = journal_path(options.journal or options.run_options.journal)
    conn = _open_existing(path)
    try:
        limit = options.limit if 0 < options.limit < 2**63 else -1  # SQLite takes no larger integer; so many runs is all of them
        rows = conn.execute(f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,)).fetchall()
    except sqlite3.Error as exc:
        raise _refusal(path, exc) from None
    finally:
        conn.close()
    records = [_run_record(path, row) for row in rows]
    if options.json:
        print(json.dumps(records))
        return 0
    if not records:
        print(f"no runs in {path}", file=sys.stderr)
        return 0
    print(f"{'RUN ID':<14} {'WORKFLOW':<20} {'STATUS':<10} {'STARTED':<19} {'DURATION':>9}  NODES")
    for r in records:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["started_at"]))
        duration = "" if r["duration"] is None else f"{r['duration']:.1f}s"
        counts = ", ".join(f"{n} {s}" for s, n in (r["counts"] or {}).items()) or f"{r['nodes']} nodes"
        resumed = f" (resumed {r['resumed_from']})" if r["resumed_from"] else ""
        print(f"{r['run_id']:<14} {r['workflow'][:20]:<20} {r['status']:<10} {started:<19} {duration:>9}  {counts}{resumed}")
    return 0


_SHOWN_COLUMNS = ("node_id", "status", "at", "attempts", "duration", "stalled", "detail")


def _node_records(path: Path, run_id: str, rows: Iterable[Sequence[Any]]) -> dict[str, dict[str, Any]]:
    """Per node, its last state: the final status if it has one, else ``running``; stalled if it ever was."""
    nodes: dict[str, dict[str, Any]] = {}
    for row in rows:
        _check_row(path, run_id, "events", _SHOWN_COLUMNS, row[:-1])
        node_id, status, at, attempts, duration, stalled, detail, stored = row
        record = nodes.setdefault(node_id, {"status": status, "stalled": False})
        record["stalled"] = record["stalled"] or bool(stalled)
        if status == "stalled":
            record["stall"] = detail
            continue
        if status in _FINAL or record["status"] not in _FINAL:
            record.update(status=status, at=at, attempts=attempts, duration=duration, detail=detail, stored=bool(stored))
    return nodes


def _show_command(options: argparse.Namespace) -> int:
    path = journal_path(options.journal or options.run_options.journal)
    conn = _open_existing(path)
    try:
        row = conn.execute(f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE run_id = ?", (options.run_id,)).fetchone()
        if row is None:
            raise dagmill.UsageError(f"no run {options.run_id!r} in journal {path} (list them with: dagmill runs)")
        rows = conn.execute(
            f"SELECT {', '.join(_SHOWN_COLUMNS)}, serializer IS NOT NULL OR output_id IS NOT NULL"
            " FROM events WHERE run = (SELECT id FROM runs WHERE run_id = ?) ORDER BY id",
            (options.run_id,),
        ).fetchall()
    except sqlite3.Error as exc:
        raise _refusal(path, exc) from None
    finally:
        conn.close()
    run = _run_record(path, row)
    nodes = _node_records(path, run["run_id"], rows)
    if options.json:
        print(json.dumps({"run": run, "nodes": nodes}))
        return 0
    _print_run(run, nodes, sys.stdout)
    return 0


_READ_COLUMNS = ("node_id", "status", "at", "level", "ready_at", "started_at", "attempts", "stalled", "detail", "traceback")


def read_run(path: str | os.PathLike[str], run_id: str) -> dagmill.RunResult:
    """Run ``run_id`` as the journal at ``path`` recorded it (without outputs); :class:`dagmill.UsageError` if it cannot.

    A run that never ended has status ``running`` while its process lives, else ``failed`` (it died); its
    nodes are those recorded, nodes that were running start where the journal first saw them and have not
    ended, and its level timings are computed from its nodes.
    """
    journal = Path(path)
    conn = _open_existing(journal)
    try:
        row = conn.execute(f"SELECT id, {', '.join(_RUN_COLUMNS)}, max_concurrency, levels FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise dagmill.UsageError(f"no run {run_id!r} in journal {journal} (list them with: dagmill runs)")
        rows = conn.execute(
            f"SELECT {', '.join(_READ_COLUMNS)} FROM events WHERE run = ? ORDER BY id",
            (row[0],),
        ).fetchall()
    except sqlite3.Error as exc:
        raise _refusal(journal, exc) from None
    finally:
        conn.close()
    record = _run_record(journal, row[1:-2])
    _check_row(journal, run_id, "runs", ("max_concurrency", "levels"), row[-2:])
    max_concurrency, levels = row[-2:]
    if levels:
        levels = _json(journal, run_id, "levels", levels, _is_levels, "a list of level timings")
    started = record["started_at"]
    nodes: dict[str, dagmill.NodeResult] = {}
    stalled: set[str] = set()
    last = 0.0
    for event in rows:
        _check_row(journal, run_id, "events", _READ_COLUMNS, event)
        node_id, status, at, level, ready_at, started_at, attempts, was_stalled, detail, trace = event
        last = max(last, at - started)
        if status == "stalled":
            stalled.add(node_id)
            continue
        if status == "running":
            if node_id not in nodes:
                nodes[node_id] = dagmill.NodeResult(node_id, dagmill.Status.RUNNING, level, started_at=at - started)
            continue
        nodes[node_id] = dagmill.NodeResult(
            node_id, dagmill.Status(status), level,
            error=detail if status == "failed" else None, traceback=trace, attempts=attempts or 0,
            ready_at=ready_at, started_at=started_at, ended_at=at - started, stalled=bool(was_stalled),
        )  # fmt: skip
    for node_id in stalled & nodes.keys():
        nodes[node_id] = attrs.evolve(nodes[node_id], stalled=True)
    status, error = record["status"], record["error"]
    if status == "died":
        status, error = "failed", f"the run's process (pid {record['pid']} on {record['host']}) died before the run ended"
    return dagmill.RunResult(
        run_id=run_id,
        workflow=record["workflow"],
        status=dagmill.Status(status),
        scheduler=record["scheduler"],
        max_concurrency=max_concurrency,
        nodes=nodes,
        levels=[dagmill.LevelResult(**level) for level in levels] if levels else _levels(nodes.values()),
        outputs={},
        started_at=started,
        duration=last if record["duration"] is None else record["duration"],
        error=error,
        extras={"journal": {"path": str(journal), "resumed_from": record["resumed_from"]}},
    )


def _levels(nodes: Iterable[dagmill.NodeResult]) -> list[dagmill.LevelResult]:
    """Level timings from the nodes recorded: width, first start, last end, peak concurrency."""
    by_level: dict[int, list[dagmill.NodeResult]] = {}
    for node in nodes:
        by_level.setdefault(node.level, []).append(node)
    levels = []
    for level in range(max(by_level, default=-1) + 1):
        members = by_level.get(level, [])
        starts = [n.started_at for n in members if n.started_at is not None]
        ends = [n.ended_at for n in members if n.started_at is not None and n.ended_at is not None]
        moments = sorted([(t, 1) for t in starts] + [(t, -1) for t in ends], key=lambda moment: (moment[0], moment[1]))
        running = peak = 0
        for _, change in moments:
            running += change
            peak = max(peak, running)
        unfinished = any(n.status is dagmill.Status.RUNNING for n in members)
        levels.append(dagmill.LevelResult(level, len(members), min(starts, default=None), None if unfinished else max(ends, default=None), peak))
    return levels


def _print_run(run: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]], out: Any) -> None:
    resumed = f", resumed from {run['resumed_from']}" if run["resumed_from"] else ""
    print(f"run {run['run_id']} of {run['workflow']!r}: {run['status']}{resumed}", file=out)
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["started_at"]))
    took = "" if run["duration"] is None else f", took {run['duration']:.3f}s"
    print(f"  started {started}{took}; scheduler {run['scheduler']}; {run['nodes']} nodes", file=out)
    if run["error"]:
        print(f"  {run['error']}", file=out)
    counts: dict[str, int] = {}
    for record in nodes.values():
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    unrecorded = run["nodes"] - len(nodes)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + (f", {unrecorded} not recorded" if unrecorded > 0 else "")
    print(f"  nodes: {summary or 'none recorded'}", file=out)
    for node_id, record in nodes.items():
        if record["status"] == "failed":
            print(f"  failed {node_id} after {record['attempts']} attempt(s): {record['detail']}", file=out)
    for node_id, record in nodes.items():
        if record["stalled"]:
            print(f"  stalled {node_id}: {record.get('stall') or 'no heartbeat past stall_after'} (then {record['status']})", file=out)
    running = [node_id for node_id, record in nodes.items() if record["status"] == "running"]
    if running:
        print(f"  running when the journal last heard of them: {', '.join(running)}", file=out)
    for node_id, record in nodes.items():
        if record["status"] in _REUSABLE and not record["stored"]:
            print(f"  {node_id}: {record['detail']}", file=out)
    if run["status"] != "succeeded":
        print(f"  resume with: dagmill run FILE --resume {run['run_id']}", file=out)
