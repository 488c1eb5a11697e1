"""The corpus of bad inputs: each case runs ``qusayr`` as a user would and checks how it is refused.

A refusal is: exit status 2, one line on stderr that starts ``qusayr: `` and names the file (or
flag) and the field, no traceback, nothing on stdout, and no file created, changed or left
half-written in the folders the case watches. Cases run in a child process with a time limit and a
memory limit, so that an input that would hang or exhaust the machine fails its test instead of
the suite. One test file per area (inputs, sweeps, outputs, the page), each a table of cases.
"""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
CASE_SECONDS = 60  # a refusal comes before any run: far below this
CASE_MEMORY_BYTES = 1_500 * 2**20  # address space of the child: numba and pandas need about 1 GB of it


@dataclass
class Refusal:
    """What a refused command printed, and whether its watched folders were left as they were."""

    status: int
    stdout: str
    stderr: str
    unchanged: bool
    changes: list[str] = field(default_factory=list)


def snapshot(folders: list[Path]) -> dict[str, str]:
    """Every file under the folders, by path, with the hash of its bytes."""
    found = {}
    for folder in folders:
        if folder.exists():
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CASE_MEMORY_BYTES, CASE_MEMORY_BYTES))


def qusayr(args: list[str], *, cwd: Path, watch: list[Path] = (), stdin: str | bytes | None = None) -> Refusal:
    """Run ``qusayr args`` in ``cwd`` (a child process, bounded in time and memory); see what changed."""
    before = snapshot([*watch, cwd])
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    data = stdin.encode() if isinstance(stdin, str) else stdin
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "sim.cli", *args],
            cwd=cwd,
            env=env,
            input=data,
            capture_output=True,
            timeout=CASE_SECONDS,
            preexec_fn=_limit_memory,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"qusayr {' '.join(args)}: still running after {CASE_SECONDS} s")
    after = snapshot([*watch, cwd])
    changes = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return Refusal(
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
        not changes,
        changes,
    )


def assert_refused(result: Refusal, *fragments: str) -> None:
    """Exit 2, one ``qusayr: `` line holding every fragment (the file, the field), no traceback, nothing changed."""
    lines = result.stderr.strip().splitlines()
    assert result.status == 2, f"exit {result.status}, stderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, f"expected one line, got:\n{result.stderr}"
    assert lines[0].startswith("qusayr: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert result.stdout == "", result.stdout
    assert result.unchanged, f"files changed: {result.changes}"
