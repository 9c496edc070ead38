"""A journal whose file is sound but whose rows were changed by hand: a clear error naming the damage, never a traceback."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import dagmill
import nodetypes
from dagmill.plugins.journal import Journal

Cli = Callable[..., subprocess.CompletedProcess[str]]

DOC = {
    "name": "damaged",
    "nodes": [
        {"id": "a", "type": "t.value", "params": {"value": 1}},
        {"id": "b", "type": "t.sum"},
        {"id": "c", "type": "t.sum"},
    ],
    "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "c"}],
}


@pytest.fixture(scope="module")
def sound(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A journal holding run ``r1`` of ``DOC``, ended and whole."""
    path = tmp_path_factory.mktemp("sound") / "journal.sqlite3"
    with Journal(path) as journal:
        dagmill.run(DOC, plugins=[nodetypes, journal], run_id="r1", handle_signals=False)
    return path


def damage(sound: Path, tmp_path: Path, *statements: str) -> Path:
    """A copy of the sound journal in ``tmp_path`` with ``statements`` applied."""
    path = tmp_path / "journal.sqlite3"
    source, conn = sqlite3.connect(sound), sqlite3.connect(path)
    try:
        source.backup(conn)  # what the WAL holds too
        with conn:
            for sql in statements:
                conn.execute(sql)
    finally:
        source.close()
        conn.close()
    return path


READERS = {"runs": ["runs"], "runs --json": ["runs", "--json"], "show": ["show", "r1"], "show --json": ["show", "r1", "--json"], "report": ["report", "r1"]}

DAMAGES = [
    ("UPDATE runs SET counts = '{bad'", "runs.counts: not JSON", list(READERS)),
    ("UPDATE runs SET counts = '[1, 2]'", "runs.counts: expected an object of counts per status", list(READERS)),
    ("UPDATE runs SET levels = '[{bad'", "runs.levels: not JSON", ["report"]),
    ("""UPDATE runs SET levels = '[{"level": 0}]'""", "runs.levels: expected a list of level timings", ["report"]),
    ("UPDATE runs SET status = 'bogus'", "runs.status: unknown status 'bogus'", list(READERS)),
    ("UPDATE runs SET started_at = 'x'", "runs.started_at: expected a time since the epoch, got 'x'", list(READERS)),
    ("UPDATE runs SET started_at = 1e300", "runs.started_at: expected a time since the epoch, got 1e+300", list(READERS)),
    ("UPDATE runs SET nodes = 'three'", "runs.nodes: expected an integer, got 'three'", list(READERS)),
    ("UPDATE runs SET duration = X'00'", r"runs.duration: expected a number or NULL, got b'\x00'", list(READERS)),
    ("UPDATE runs SET pid = 99999999999", "runs.pid: expected a process id or NULL, got 99999999999", list(READERS)),
    ("UPDATE runs SET max_concurrency = 'x'", "runs.max_concurrency: expected an integer, got 'x'", ["report"]),
    ("UPDATE events SET status = 'bogus' WHERE node_id = 'b'", "events.status of node b: unknown status 'bogus'", ["show", "show --json", "report"]),
    ("UPDATE events SET at = 'x' WHERE node_id = 'b'", "events.at of node b: expected a number, got 'x'", ["show", "show --json", "report"]),
    ("UPDATE events SET level = NULL WHERE node_id = 'c'", "events.level of node c: expected an integer, got None", ["report"]),
    ("UPDATE events SET node_id = X'63' WHERE node_id = 'c'", "events.node_id of node b'c': expected text, got b'c'", ["show", "show --json", "report"]),
]


@pytest.mark.parametrize(("sql", "what", "readers"), DAMAGES, ids=[d[1].split(":")[0] + " " + d[0].split("=")[1].split()[0] for d in DAMAGES])
def test_a_damaged_record_is_a_clear_error_naming_journal_run_and_damage(
    dagmill_cli: Cli, sound: Path, tmp_path: Path, sql: str, what: str, readers: list[str]
) -> None:
    journal = damage(sound, tmp_path, sql)
    before = journal.read_bytes()
    for reader in readers:
        done = dagmill_cli(*READERS[reader], "--journal", str(journal))
        assert (done.returncode, done.stdout) == (2, ""), (reader, done.stderr)
        assert done.stderr == f"dagmill: error: journal {journal}: run r1: damaged record ({what})\n", reader
    assert journal.read_bytes() == before
    assert not (tmp_path / "report-r1.html").exists()


def test_the_readers_still_read_a_sound_journal(dagmill_cli: Cli, sound: Path, tmp_path: Path) -> None:
    journal = damage(sound, tmp_path)
    for reader, args in READERS.items():
        done = dagmill_cli(*args, "--journal", str(journal))
        assert done.returncode == 0, (reader, done.stderr)
    assert (tmp_path / "report-r1.html").is_file()


def test_damaged_durations_are_not_learned_and_the_run_goes_on(dagmill_cli: Cli, sound: Path, tmp_path: Path, write_json: Callable[..., Path]) -> None:
    # the ready scheduler asks the journal for learned durations at the start of the run
    journal = damage(sound, tmp_path, "UPDATE events SET duration = 'slow'")
    done = dagmill_cli("run", str(write_json(DOC)), "--scheduler", "ready", "--journal", str(journal))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_a_damaged_output_reference_is_a_miss_and_the_node_runs_again(dagmill_cli: Cli, sound: Path, tmp_path: Path, write_json: Callable[..., Path]) -> None:
    journal = damage(sound, tmp_path, "UPDATE events SET output_id = 'zz', serializer = NULL, output = NULL WHERE node_id = 'a'")
    done = dagmill_cli("run", str(write_json(DOC)), "--resume", "r1", "--journal", str(journal), "--json")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Logging error" not in done.stderr, done.stderr
    assert "cannot read stored output 'zz'" in done.stderr
