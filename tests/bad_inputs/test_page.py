"""Bad inputs and faults of the web page (`qusayr viz`): ports it cannot have, a killed parent.

The table of refusals runs the CLI through the corpus's harness. The other tests serve the page for
real (`qusayr viz --port 0` in a child process) and send it each signal that ends `qusayr viz`.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.bad_inputs.conftest import REPO_ROOT, assert_refused, qusayr

SERVER_START_S = 90  # the page's server imports app.py and builds the model before it answers
GONE_WITHIN_S = 10  # a server whose parent has gone must be gone within this


def _port_held_on(interface: str):
    """A case: `qusayr viz` on a port that another program listens on, on ``interface``."""

    def case(stack: ExitStack) -> tuple[list[str], tuple[str, ...]]:
        held = stack.enter_context(socket.socket())
        held.bind((interface, 0))
        held.listen()
        port = held.getsockname()[1]
        return ["viz", "--port", str(port)], ("--port", str(port), "in use")

    return case


CASES = {
    "port-in-use": _port_held_on("127.0.0.1"),
    "port-in-use-on-every-interface": _port_held_on("0.0.0.0"),
    "port-beyond-65535": lambda _stack: (["viz", "--port", "99999"], ("--port", "99999")),
    "unknown-scenario": lambda _stack: (["viz", "no-such-battle"], ("no-such-battle",)),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_viz_refuses(case, tmp_path):
    with ExitStack() as stack:
        args, fragments = case(stack)
        result = qusayr(args, cwd=tmp_path)
    assert_refused(result, *fragments)


# --- the server ends with `qusayr viz` -----------------------------------------------------------


def _wait_until_served(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the page's server did not answer at {url} (exit status {server.poll()})")


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _first_line(proc: subprocess.Popen, seconds: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    if not ready:
        pytest.fail(f"qusayr viz printed nothing in {seconds} s")
    return proc.stdout.readline().decode()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_the_server_ends_with_qusayr_viz(signum, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "sim.cli", "viz", "--port", "0"]
    with subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE) as viz:
        servers: list[int] = []
        try:
            line = _first_line(viz, SERVER_START_S)
            port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
            _wait_until_served(f"http://127.0.0.1:{port}/", viz)
            servers += _children(viz.pid)
            assert servers, "qusayr viz started no server"
            os.kill(viz.pid, signum)
            viz.wait(timeout=30)
            deadline = time.monotonic() + GONE_WITHIN_S
            while (_answers(port) or any(map(_alive, servers))) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not _answers(port), f"port {port} answers {GONE_WITHIN_S} s after qusayr viz got {signum.name}"
            assert not any(map(_alive, servers)), f"server {servers} runs on after qusayr viz got {signum.name}"
            if signum != signal.SIGKILL:
                assert viz.returncode == 0
        finally:  # whatever happened, leave no server behind
            for pid in servers or _children(viz.pid):
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
            if viz.poll() is None:
                viz.kill()
