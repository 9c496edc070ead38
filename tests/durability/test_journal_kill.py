"""kill -9 at random instants, then resume: the journal stays consistent and nothing that succeeded runs twice."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from journal_helpers import DEADLINE, durability_env, finish, integrity, rows, start  # noqa: F401 - durability_env is a fixture
from journal_nodes import executions

SEED = 8_2026
TRIALS = 20
NODES = 200


def workflow(seed: int = SEED) -> dict[str, Any]:
    """200 nodes, each fed by up to three of the 30 before it; every seventh outputs a tuple (pickled)."""
    rng = random.Random(seed)
    nodes, edges = [], []
    for i in range(NODES):
        node_id = f"n{i:03d}"
        kind = "d.pair" if i % 7 == 3 else "d.work"
        nodes.append({"id": node_id, "type": kind, "params": {"value": rng.randint(0, 99), "seconds": 0.002 * (1 + i % 4)}})
        if i:
            for p in rng.sample(range(max(0, i - 30), i), min(i, rng.randint(0, 3))):
                edges.append({"source": f"n{p:03d}", "target": node_id})
    return {"name": "kill-me", "nodes": nodes, "edges": edges}


def kill_after(process: subprocess.Popen[str], effects: Path, executed: int) -> None:
    """SIGKILL ``process`` once ``executed`` node executions have happened (or when it ends by itself)."""
    deadline = time.monotonic() + DEADLINE
    while process.poll() is None and sum(executions(effects).values()) < executed:
        assert time.monotonic() < deadline, "no progress before the deadline"
        time.sleep(0.001)  # polling the side effects, not waiting for anything in particular
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=DEADLINE)


def reusable(path: Path, run_id: str) -> set[str]:
    """Nodes the journal holds a stored output for, in ``run_id``."""
    found = rows(
        path,
        "SELECT node_id FROM events WHERE run = (SELECT id FROM runs WHERE run_id = ?)"
        " AND status IN ('succeeded', 'cached') AND (serializer IS NOT NULL OR output_id IS NOT NULL)",
        run_id,
    )
    return {row[0] for row in found}


@pytest.mark.slow
def test_kill_9_at_random_instants_then_resume_gives_the_uninterrupted_outputs(durability_env: dict[str, str], tmp_path: Path) -> None:
    env = durability_env
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(workflow()))
    reference_env = {**env, "JOURNAL_EFFECTS": str(tmp_path / "reference-effects")}
    reference = finish(["run", str(flow), "--no-journal", "--keep-outputs", "--json", "-q"], reference_env, tmp_path)
    assert reference.returncode == 0, reference.stderr
    expected = {node_id: node["output"] for node_id, node in json.loads(reference.stdout)["nodes"].items()}

    rng = random.Random(SEED)
    partial = 0
    for trial in range(TRIALS):
        where = tmp_path / f"trial{trial:02d}"
        where.mkdir()
        effects = where / "effects"
        journal = where / "journal.sqlite3"
        trial_env = {**env, "JOURNAL_EFFECTS": str(effects)}
        scheduler = ("level", "ready")[trial % 2]
        common = ["--journal", str(journal), "--scheduler", scheduler, "--max-concurrency", "4", "-q"]

        chain: list[str] = []
        settled: dict[str, int] = {}  # node -> its executions when the journal first held its success: never more after

        def killed(run_id: str, *resume: str) -> None:
            done = sum(executions(effects).values())
            process = start(["run", str(flow), "--run-id", run_id, *resume, *common], trial_env, where)
            kill_after(process, effects, done + rng.randint(1, NODES - 1 - done // 2))
            assert integrity(journal) == "ok"
            chain.append(run_id)
            counts = executions(effects)
            for node_id in reusable(journal, run_id):
                settled.setdefault(node_id, counts[node_id])

        killed("a")
        assert set(settled.values()) <= {1}
        if rng.random() < 0.5:  # kill the resumed run too: resuming a resumed run follows the chain back
            killed("b", "--resume", "a")

        last = finish(["run", str(flow), "--run-id", "c", "--resume", chain[-1], "--keep-outputs", "--json", *common], trial_env, where)
        assert last.returncode == 0, f"trial {trial}: {last.stderr}"
        result = json.loads(last.stdout)
        outputs = {node_id: node["output"] for node_id, node in result["nodes"].items()}
        assert outputs == expected, f"trial {trial}"
        cached = {node_id for node_id, node in result["nodes"].items() if node["status"] == "cached"}
        assert cached == set(settled), f"trial {trial}: every recorded success is reused, nothing else"
        counts = executions(effects)
        assert {node_id for node_id, n in settled.items() if counts[node_id] != n} == set(), f"trial {trial}: a recorded success ran again"
        assert all(counts.get(f"n{i:03d}", 0) >= 1 for i in range(NODES))
        assert integrity(journal) == "ok"
        partial += 0 < len(settled) < NODES
    assert partial >= TRIALS // 2, "most kills must land in the middle of a run"
