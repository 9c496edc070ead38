"""Every ``console`` block in README.md and docs/ is run: the docs cannot rot.

A block holds ``$ command`` lines, each followed by the output it must print
(its stdout, then its stderr); a line ``...`` matches any lines, and ``...``
inside a line matches any text. ``# exit N`` after a command expects exit
code N (default 0). Commands run in a scratch directory that sees the
repository's ``examples/``, with the test environment's ``dagmill`` on PATH.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```console\n(.*?)^```", re.M | re.S)
_EXIT = re.compile(r"\s+# exit (\d+)$")


Step = tuple[str, int, list[str]]


def blocks() -> list[tuple[str, list[Step]]]:
    """Each console block of the docs as (document name, its steps)."""
    found = []
    for document in DOCUMENTS:
        for block in _BLOCK.findall(document.read_text()):
            steps: list[Step] = []
            for line in block.splitlines():
                if line.startswith("$ "):
                    code = _EXIT.search(line)
                    steps.append((_EXIT.sub("", line[2:]), int(code[1]) if code else 0, []))
                elif steps:
                    steps[-1][2].append(line)
            found.append((document.name, steps))
    return found


def matches(expected: list[str], actual: list[str]) -> bool:
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head == "...":
        return any(matches(rest, actual[k:]) for k in range(len(actual) + 1))
    if not actual:
        return False
    pattern = ".*".join(map(re.escape, head.split("...")))
    return re.fullmatch(pattern, actual[0]) is not None and matches(rest, actual[1:])


BLOCKS = blocks()


def test_the_docs_show_commands() -> None:
    assert sum(len(steps) for _, steps in BLOCKS) >= 8


@pytest.mark.parametrize(("document", "steps"), BLOCKS, ids=[f"{d}: {steps[0][0][:60]}" for d, steps in BLOCKS])
def test_documented_commands(tmp_path: Path, document: str, steps: list[Step]) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]), COLUMNS="200")
    env.pop("CI", None)
    for command, code, expected in steps:
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
        output = (done.stdout + done.stderr).splitlines()
        assert done.returncode == code, f"{command!r} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        assert matches(expected, output), f"{command!r} printed:\n" + "\n".join(output)
