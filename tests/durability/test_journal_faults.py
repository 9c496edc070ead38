"""Fault injection: failing, hanging and dying nodes; unwritable, full and corrupt journals; interrupts."""

from __future__ import annotations

import json
import os
import random
import re
import resource
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio.testing

import dagmill
import journal_nodes
from dagmill.plugins.journal import Journal
from journal_helpers import DEADLINE, durability_env, events, finish, integrity, rows, start  # noqa: F401 - durability_env is a fixture
from journal_nodes import executions


def work(node_id: str, value: int = 1) -> dict[str, Any]:
    return {"id": node_id, "type": "d.work", "params": {"value": value}}


def faulty(mode: str, **extra: Any) -> dict[str, Any]:
    """before -> victim (faults once as ``mode`` says) -> after."""
    return {
        "name": f"faulty-{mode}",
        "nodes": [work("before"), {"id": "victim", "type": "d.fault", "params": {"mode": mode}, **extra}, work("after")],
        "edges": [{"source": "before", "target": "victim"}, {"source": "victim", "target": "after"}],
    }


@pytest.fixture
def effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "effects"
    monkeypatch.setenv("JOURNAL_EFFECTS", str(folder))
    return folder


def failure(path: Path, run_id: str, node_id: str) -> tuple[str, str, str]:
    sql = "SELECT status, detail, traceback FROM events WHERE run = (SELECT id FROM runs WHERE run_id = ?) AND node_id = ?"
    [row] = rows(path, sql, run_id, node_id)
    return row


async def fails_once_then_resumes(document: dict[str, Any], path: Path, effects: Path) -> tuple[str, str]:
    """Run ``document`` (its victim fails), resume it; return the victim's recorded error and traceback."""
    first = await dagmill.arun(document, plugins=[journal_nodes, Journal(path)])
    assert {k: n.status.value for k, n in first.nodes.items()} == {"before": "succeeded", "victim": "failed", "after": "skipped"}
    status, error, traceback = failure(path, first.run_id, "victim")
    assert status == "failed" and error == first.nodes["victim"].error
    again = await dagmill.arun(document, plugins=[journal_nodes, Journal(path, resume=first.run_id)])
    assert {k: n.status.value for k, n in again.nodes.items()} == {"before": "cached", "victim": "succeeded", "after": "succeeded"}
    assert again.outputs == {"after": 1 + (1 + 1)}
    assert executions(effects) == {"before": 1, "victim": 2, "after": 1}
    return error, traceback


async def test_a_node_that_raises_is_recorded_with_its_traceback_and_runs_again_on_resume(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, effects: Path
) -> None:
    error, traceback = await fails_once_then_resumes(faulty("raise"), tmp_path / "journal.sqlite3", effects)
    assert error == "RuntimeError: victim fails on purpose"
    assert "raise RuntimeError" in traceback


async def test_a_node_that_hangs_past_its_timeout_is_recorded_failed_and_runs_again_on_resume(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, effects: Path
) -> None:
    error, _ = await fails_once_then_resumes(faulty("hang", timeout=5), tmp_path / "journal.sqlite3", effects)
    assert error == "NodeTimeoutError: timed out after 5s"


async def test_a_killed_process_worker_fails_its_node_and_resume_runs_it_again(tmp_path: Path, effects: Path) -> None:
    error, _ = await fails_once_then_resumes(faulty("die", executor="process"), tmp_path / "journal.sqlite3", effects)
    assert error.startswith("WorkerDied: the worker process running node 'victim' died")


# -- the journal itself is the fault ---------------------------------------------------------------


def flow(tmp_path: Path, document: dict[str, Any] | None = None) -> Path:
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(document or faulty("none")))
    return path


def refused(done: subprocess.CompletedProcess[str], reason: str) -> None:
    """The run was refused before anything ran: exit 2, one clear line, no traceback."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("dagmill: error: journal ") and re.search(reason, done.stderr), done.stderr


FULL = r"(database or disk is full|disk I/O error)"
"""What SQLite says when a file cannot grow: ENOSPC is "full"; the file-size limit these tests use, EFBIG, an I/O error."""


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody may write in: mode 0555, made immutable too when we are root (root ignores modes)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if os.access(folder, os.W_OK):
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    try:
        probe = folder / "probe"
        try:
            probe.touch()
        except OSError:
            pass
        else:
            probe.unlink()
            pytest.skip("cannot make a read-only directory here")
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_a_read_only_journal_directory_is_refused_before_the_run(
    durability_env: dict[str, str], tmp_path: Path, read_only_dir: Path
) -> None:
    document = flow(tmp_path)
    for journal in (read_only_dir / "journal.sqlite3", read_only_dir / "deeper" / "journal.sqlite3"):
        refused(finish(["run", str(document), "--journal", str(journal)], durability_env, tmp_path), r"cannot write it \(")
    assert not (tmp_path / "effects").exists()
    done = finish(["run", str(document), "--no-journal"], durability_env, read_only_dir)
    assert done.returncode == 0, done.stderr


def file_size_limit(limit: int) -> Any:
    """A ``preexec_fn``: files may not grow past ``limit`` bytes, as on a full disk (EFBIG instead of a signal)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_at_the_start_is_refused_before_the_run(durability_env: dict[str, str], tmp_path: Path) -> None:
    done = finish(["run", str(flow(tmp_path)), "--journal", "journal.sqlite3"], durability_env, tmp_path, file_size_limit(1024))
    refused(done, rf"cannot write it \({FULL}\); pass --journal OTHER_PATH, or --no-journal")
    assert not (tmp_path / "effects").exists()


def test_a_disk_that_fills_up_during_the_run_stops_the_journal_not_the_run(durability_env: dict[str, str], tmp_path: Path) -> None:
    # one at a time, 50 ms each: the journal commits them one by one until the file may not grow
    blobs = [{"id": f"blob{k:02d}", "type": "d.blob", "params": {"size": 20_000 + k, "seconds": 0.05}} for k in range(20)]
    document = {
        "name": "filling",
        "nodes": [*blobs, work("total")],
        "edges": [{"source": blob["id"], "target": "total"} for blob in blobs],
    }
    path = flow(tmp_path, document)
    args = ["run", str(path), "--journal", "journal.sqlite3", "--max-concurrency", "1", "--json"]
    done = finish([*args, "--run-id", "full"], durability_env, tmp_path, file_size_limit(150_000))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert re.search(rf"writing failed \({FULL}\): the journal stops here and the run goes on", done.stderr), done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded"
    assert re.fullmatch(rf"OperationalError: {FULL}", result["extras"]["journal"]["error"])
    journal = tmp_path / "journal.sqlite3"
    assert integrity(journal) == "ok"
    recorded = {node_id for node_id, states in events(journal, "full").items() if "succeeded" in states}
    assert 0 < len(recorded) < 21
    again = finish([*args, "--resume", "full"], durability_env, tmp_path)
    assert again.returncode == 0, again.stderr
    resumed = json.loads(again.stdout)
    assert {k for k, n in resumed["nodes"].items() if n["status"] == "cached"} == recorded
    assert resumed["outputs"] == result["outputs"] == {"total": sum(20_000 + k for k in range(20)) + 1}


def journal_copies(tmp_path: Path, durability_env: dict[str, str]) -> dict[str, Path]:
    """A good journal, and broken copies of it: garbage, a foreign database, truncated, scribbled over."""
    good = tmp_path / "good.sqlite3"
    done = finish(["run", str(flow(tmp_path)), "--journal", str(good), "--run-id", "r1"], durability_env, tmp_path)
    assert done.returncode == 0, done.stderr
    data = good.read_bytes()
    assert len(data) >= 6 * 4096
    broken = {name: tmp_path / f"{name}.sqlite3" for name in ("garbage", "foreign", "truncated", "scribbled")}
    broken["garbage"].write_bytes(random.Random(1).randbytes(20_000))
    with sqlite3.connect(broken["foreign"]) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT)")
    broken["truncated"].write_bytes(data[: 2 * 4096])
    broken["scribbled"].write_bytes(data[:4096] + random.Random(2).randbytes(len(data) - 4096))
    return broken


def test_a_corrupt_journal_is_a_clear_error_never_a_traceback(durability_env: dict[str, str], tmp_path: Path) -> None:
    for name, journal in journal_copies(tmp_path, durability_env).items():
        before = journal.read_bytes()
        for command in (["run", str(tmp_path / "flow.json")], ["run", str(tmp_path / "flow.json"), "--resume", "r1"], ["runs"], ["show", "r1"]):
            done = finish([*command, "--journal", str(journal)], durability_env, tmp_path)
            assert done.returncode == 2, (name, command, done.stderr)
            assert "Traceback" not in done.stderr, (name, command, done.stderr)
            assert f"journal {journal}: not a usable dagmill journal (" in done.stderr, (name, command, done.stderr)
        assert journal.read_bytes() == before, f"{name}: a refused journal is left as it was"
    assert not (tmp_path / "effects").exists() or executions(tmp_path / "effects") == {"before": 1, "victim": 1, "after": 1}


def test_a_journal_path_holding_a_nul_is_a_clear_error(durability_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "dagmill.toml").write_text('journal = "a\\u0000b"\n')  # only a config file can carry a NUL
    done = finish(["run", str(flow(tmp_path))], durability_env, tmp_path)
    assert (done.returncode, done.stderr) == (2, "dagmill: error: journal 'a\\x00b': not a file name (it holds a NUL character)\n")
    assert not (tmp_path / "effects").exists()


# -- interrupts -------------------------------------------------------------------------------------


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)  # polling the journal or a marker file, not waiting for anything in particular


def running_in_journal(journal: Path, run_id: str, node_id: str) -> bool:
    try:
        return "running" in events(journal, run_id).get(node_id, [])
    except sqlite3.Error:
        return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_records_the_run_cancelled_and_flushes_the_journal(
    durability_env: dict[str, str], tmp_path: Path, signum: signal.Signals
) -> None:
    marker = tmp_path / "long-started"
    document = {
        "name": "interrupted",
        "nodes": [work("first"), {"id": "long", "type": "t.sleep", "params": {"seconds": 600, "marker": str(marker)}}, work("after")],
        "edges": [{"source": "first", "target": "long"}, {"source": "long", "target": "after"}],
    }
    path = flow(tmp_path, document)
    journal = tmp_path / "journal.sqlite3"
    process = start(["run", str(path), "--journal", str(journal), "--run-id", "stopped"], durability_env, tmp_path)
    try:
        wait_for(marker.exists, "the long node to start")
        wait_for(lambda: running_in_journal(journal, "stopped", "long"), "the journal to record the long node running")
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=DEADLINE)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert f"dagmill: resume with: dagmill run {path} --resume stopped" in stderr
    assert integrity(journal) == "ok"
    assert rows(journal, "SELECT status, error FROM runs WHERE run_id = 'stopped'") == [("cancelled", f"interrupted by {signum.name}")]
    assert events(journal, "stopped") == {"first": ["succeeded"], "long": ["running", "cancelled"], "after": ["cancelled"]}
    document["nodes"][1]["params"]["seconds"] = 0  # what the long node does changed: it runs again, "first" does not
    path.write_text(json.dumps(document))
    again = finish(["run", str(path), "--journal", str(journal), "--resume", "stopped", "--json"], durability_env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert {k: n["status"] for k, n in json.loads(again.stdout)["nodes"].items()} == {"first": "cached", "long": "succeeded", "after": "succeeded"}


def test_a_second_interrupt_exits_at_once_and_leaves_a_consistent_journal(durability_env: dict[str, str], tmp_path: Path) -> None:
    marker = tmp_path / "slow-to-stop"
    document = {
        "name": "stubborn",
        "nodes": [work("first"), {"id": "blocker", "type": "d.stubborn", "params": {"marker": str(marker), "seconds": 600}}],
        "edges": [{"source": "first", "target": "blocker"}],
    }
    journal = tmp_path / "journal.sqlite3"
    process = start(["run", str(flow(tmp_path, document)), "--journal", str(journal), "--run-id", "stubborn"], durability_env, tmp_path)
    try:
        wait_for(marker.exists, "the stubborn node to start")
        wait_for(lambda: "succeeded" in events(journal, "stubborn").get("first", []), "the journal to record the first node")
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGTERM)  # another signal: trio coalesces repeats of one signal not yet received
        process.communicate(timeout=DEADLINE)
    finally:
        process.kill()
    assert process.returncode == 130
    assert integrity(journal) == "ok"
    listing = finish(["runs", "--journal", str(journal), "--json"], durability_env, tmp_path)
    [run] = json.loads(listing.stdout)
    assert (run["run_id"], run["status"]) == ("stubborn", "died")
    assert events(journal, "stubborn")["first"] == ["succeeded"]
