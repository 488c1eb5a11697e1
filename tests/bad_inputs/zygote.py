"""The corpus's runner: a process that imports the command line once, then forks one child per case.

Starting Python and importing ``sim.cli`` (numba, pydantic, the rules) takes about a second, the
case itself milliseconds: forking a ready process keeps the corpus fast while each case still runs
alone, in its own folder, with its own standard streams, bounded in memory (``RLIMIT_AS``) and time
(killed with its process group at the deadline). Requests and answers are JSON lines on stdin and
stdout: ``{"args", "cwd", "capture", "seconds", "memory_bytes"}`` -> ``{"status", "timed_out"}``;
the child's stdin, stdout and stderr are the files ``stdin``, ``stdout``, ``stderr`` in ``capture``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import resource
import signal
import sys
import time
import traceback
import warnings

from sim.cli import main

# what the commands import when they run (sim.cli imports them lazily, for a quick start): imported
# here once, so that a case does not pay a second of imports. pandas starts pyarrow's jemalloc
# thread, and Python warns that forking a process with threads may deadlock the child; jemalloc
# re-arms itself after fork, and a child that did hang would fail its case at the deadline.
warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
for module in (
    "sim.analysis.agreement",
    "sim.analysis.reports.calibration",
    "sim.analysis.reports.counterfactual",
    "sim.analysis.reports.sensitivity",
    "sim.analysis.reports.sweep",
    "sim.analysis.reports.validation",
    "sim.bench",
    "sim.runfiles",
    "sim.sweeps.runner",
    "sim.viz",
):
    importlib.import_module(module)


def _child(request: dict) -> int:
    """Run the case in this (forked) process; its exit status, as ``python -m sim.cli`` would give."""
    os.setpgid(0, 0)  # the case and whatever it starts are killed together at the deadline
    os.chdir(request["cwd"])
    limit = request["memory_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    capture = request["capture"]
    for fd, name, flags in (
        (0, "stdin", os.O_RDONLY),
        (1, "stdout", os.O_WRONLY | os.O_TRUNC),
        (2, "stderr", os.O_WRONLY | os.O_TRUNC),
    ):
        os.dup2(os.open(os.path.join(capture, name), flags), fd)
    # fresh stream objects: the inherited ones may hold the runner's buffered requests and answers
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
    sys.argv = [sys.argv[0], *request["args"]]
    try:
        status = main(request["args"])
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            status = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            status = 1
    except BaseException:  # what the interpreter would print for an uncaught exception
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return status


def _serve_one(request: dict) -> dict:
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            status = _child(request)
        finally:
            os._exit(status)
    # also here: the deadline may come before the child's own call (an error: it already has, or is gone)
    with contextlib.suppress(PermissionError, ProcessLookupError):
        os.setpgid(pid, pid)
    deadline = time.monotonic() + request["seconds"]
    while True:
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            return {"status": os.waitstatus_to_exitcode(wait_status), "timed_out": False}
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"status": None, "timed_out": True}
        time.sleep(0.01)


if __name__ == "__main__":
    for line in sys.stdin:
        print(json.dumps(_serve_one(json.loads(line))), flush=True)
