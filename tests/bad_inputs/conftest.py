"""The corpus of bad inputs: each case runs ``qusayr`` as a user would and checks how it is refused.

A refusal is: exit status 2, one line on stderr that starts ``qusayr: `` and names the file (or
flag) and the field, no traceback, nothing on stdout, and no file created, changed or left
half-written in the folders the case watches. Each case runs in a child process with a time limit
and a memory limit, so that an input that would hang or exhaust the machine fails its test instead
of the suite; the children are forked from one process that imported the command line once
(``zygote.py``), which makes a case cost milliseconds instead of a second of imports.
One test file per area (inputs, sweeps, outputs, the page), each a table of cases.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import subprocess
import sys
import tempfile
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


class _Runner:
    """The zygote (tests/bad_inputs/zygote.py), started on first use and ended with the session."""

    process: subprocess.Popen | None = None

    @classmethod
    def ask(cls, request: dict) -> dict:
        if cls.process is None or cls.process.poll() is not None:
            cls.process = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("zygote.py"))],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                # one BLAS thread: a process forked while other threads run may deadlock in its child
                env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
                text=True,
            )
            atexit.register(cls.process.kill)
        cls.process.stdin.write(json.dumps(request) + "\n")
        cls.process.stdin.flush()
        return json.loads(cls.process.stdout.readline())


def qusayr(args: list[str], *, cwd: Path, watch: list[Path] = (), stdin: str | bytes | None = None) -> Refusal:
    """Run ``qusayr args`` in ``cwd`` (a child process, bounded in time and memory); see what changed."""
    before = snapshot([*watch, cwd])
    with tempfile.TemporaryDirectory() as capture:
        streams = Path(capture)
        (streams / "stdin").write_bytes(stdin.encode() if isinstance(stdin, str) else (stdin or b""))
        (streams / "stdout").touch()
        (streams / "stderr").touch()
        request = {
            "args": [str(a) for a in args],
            "cwd": str(cwd),
            "capture": capture,
            "seconds": CASE_SECONDS,
            "memory_bytes": CASE_MEMORY_BYTES,
        }
        answer = _Runner.ask(request)
        if answer["timed_out"]:
            pytest.fail(f"qusayr {' '.join(map(str, args))}: still running after {CASE_SECONDS} s")
        stdout = (streams / "stdout").read_bytes().decode(errors="replace")
        stderr = (streams / "stderr").read_bytes().decode(errors="replace")
    after = snapshot([*watch, cwd])
    changes = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return Refusal(answer["status"], stdout, stderr, not changes, changes)


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
