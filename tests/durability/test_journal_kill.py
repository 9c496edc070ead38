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


class Trial:
    """One trial in its own directory: runs killed at random, then resumed to the end."""

    def __init__(self, where: Path, flow: Path, env: dict[str, str], scheduler: str, rng: random.Random) -> None:
        where.mkdir()
        self.where, self.flow, self.rng = where, flow, rng
        self.effects = where / "effects"
        self.journal = where / "journal.sqlite3"
        self.env = {**env, "JOURNAL_EFFECTS": str(self.effects)}
        self.common = ["--journal", str(self.journal), "--scheduler", scheduler, "--max-concurrency", "4", "-q"]
        self.chain: list[str] = []
        self.settled: dict[str, int] = {}
        """Node -> its executions when the journal first held its success: it must never run again."""

    def killed(self, run_id: str, *resume: str) -> None:
        """Start run ``run_id`` and kill -9 it after a random number of further node executions."""
        done = sum(executions(self.effects).values())
        process = start(["run", str(self.flow), "--run-id", run_id, *resume, *self.common], self.env, self.where)
        kill_after(process, self.effects, done + self.rng.randint(1, NODES - 1 - done // 2))
        assert integrity(self.journal) == "ok"
        self.chain.append(run_id)
        counts = executions(self.effects)
        for node_id in reusable(self.journal, run_id):
            self.settled.setdefault(node_id, counts[node_id])

    def resumed(self) -> dict[str, Any]:
        """Resume the last run to its end; its ``--json`` result."""
        args = ["run", str(self.flow), "--run-id", "last", "--resume", self.chain[-1], "--keep-outputs", "--json", *self.common]
        done = finish(args, self.env, self.where)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.mark.slow
def test_kill_9_at_random_instants_then_resume_gives_the_uninterrupted_outputs(durability_env: dict[str, str], tmp_path: Path) -> None:
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(workflow()))
    reference_env = {**durability_env, "JOURNAL_EFFECTS": str(tmp_path / "reference-effects")}
    reference = finish(["run", str(flow), "--no-journal", "--keep-outputs", "--json", "-q"], reference_env, tmp_path)
    assert reference.returncode == 0, reference.stderr
    expected = {node_id: node["output"] for node_id, node in json.loads(reference.stdout)["nodes"].items()}

    rng = random.Random(SEED)
    partial = 0
    for k in range(TRIALS):
        trial = Trial(tmp_path / f"trial{k:02d}", flow, durability_env, ("level", "ready")[k % 2], rng)
        trial.killed("a")
        assert set(trial.settled.values()) <= {1}
        if rng.random() < 0.5:  # kill the resumed run too: resuming a resumed run follows the chain back
            trial.killed("b", "--resume", "a")
        result = trial.resumed()
        outputs = {node_id: node["output"] for node_id, node in result["nodes"].items()}
        assert outputs == expected, f"trial {k}"
        cached = {node_id for node_id, node in result["nodes"].items() if node["status"] == "cached"}
        assert cached == set(trial.settled), f"trial {k}: every recorded success is reused, nothing else"
        counts = executions(trial.effects)
        assert {node_id for node_id, n in trial.settled.items() if counts[node_id] != n} == set(), f"trial {k}: a recorded success ran again"
        assert all(counts.get(f"n{i:03d}", 0) >= 1 for i in range(NODES))
        assert integrity(trial.journal) == "ok"
        partial += 0 < len(trial.settled) < NODES
    assert partial >= TRIALS // 2, "most kills must land in the middle of a run"
