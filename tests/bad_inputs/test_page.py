"""Bad inputs and faults of the web page (`qusayr viz`): ports it cannot have, requests from elsewhere, a killed parent.

The table of refusals runs the CLI through the corpus's harness. The other tests serve the page for
real (``sim.viz.page_server``, or `qusayr viz` in a child process, on a free port) and
send it what a hostile page or a user's ``kill`` would: a forged Host header (DNS rebinding), a
websocket handshake from another site, a request for a browser asset that is not installed (which
Solara would fetch from a CDN), and each signal that ends `qusayr viz`.
"""

from __future__ import annotations

import http.client
import http.server
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import ClassVar
from unittest import mock

import pytest

from sim.viz import listen, page_server
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


# --- a served page, and requests from elsewhere -------------------------------------------------


class _RecordingCdn(http.server.BaseHTTPRequestHandler):
    """A stand-in for the CDN Solara fetches missing assets from: it answers, and records the path."""

    fetched: ClassVar[list[str]] = []

    def do_GET(self):
        self.fetched.append(self.path)
        body = b"// fetched from the CDN\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


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


@pytest.fixture(scope="module")
def served():
    """The page served on a free port, its CDN replaced by a recorder; yields (port, the recorded fetches)."""
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordingCdn) as cdn:
        threading.Thread(target=cdn.serve_forever, daemon=True).start()
        cdn_url = f"http://127.0.0.1:{cdn.server_address[1]}/"
        with listen(0) as listener, mock.patch.dict(os.environ, {"SOLARA_ASSETS_CDN": cdn_url}):
            port = listener.getsockname()[1]
            server = page_server("al-qusayr-2013", listener, cwd=REPO_ROOT)
        try:
            _wait_until_served(f"http://127.0.0.1:{port}/", server)
            yield port, _RecordingCdn.fetched
        finally:
            server.terminate()
            server.wait(timeout=30)
            cdn.shutdown()


def _status(port: int, path: str, headers: dict[str, str]) -> int:
    """The status of a GET of ``path`` with exactly these headers (Host included)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def _websocket_handshake(port: int, origin: str | None) -> int:
    """The status answering a websocket handshake on the page's kernel channel (101: accepted)."""
    headers = {
        "Host": f"127.0.0.1:{port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    if origin is not None:
        headers["Origin"] = origin
    return _status(port, "/jupyter/api/kernels/k1/channels?session_id=s1", headers)


def test_only_the_local_host_names_are_served(served):
    port, _ = served
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LocalHost:{port}"):
        assert _status(port, "/", {"Host": host}) == 200, host
    for host in (f"attacker.example:{port}", "attacker.example", f"127.0.0.1:{port + 1}", "127.0.0.1", ""):
        assert _status(port, "/", {"Host": host}) in (400, 403), host


def test_requests_from_another_site_are_refused(served):
    port, _ = served
    local = {"Host": f"127.0.0.1:{port}"}
    assert _status(port, "/", {**local, "Origin": f"http://localhost:{port}"}) == 200
    for origin in ("http://attacker.example", "null", f"http://127.0.0.1:{port + 1}", f"https://127.0.0.1:{port}"):
        assert _status(port, "/", {**local, "Origin": origin}) == 403, origin


def test_a_websocket_from_another_site_is_refused(served):
    port, _ = served
    assert _websocket_handshake(port, f"http://127.0.0.1:{port}") == 101
    assert _websocket_handshake(port, None) == 101  # a client that is not a browser sends no Origin
    assert _websocket_handshake(port, "http://attacker.example") == 403
    assert _websocket_handshake(port, f"http://attacker.example:{port}") == 403


def test_a_browser_asset_not_installed_is_not_fetched(served):
    port, fetched = served
    local = {"Host": f"127.0.0.1:{port}"}
    assert _status(port, "/_solara/cdn/requirejs@2.3.6/require.js", local) == 200  # installed: served
    assert _status(port, "/_solara/cdn/left-pad@1.3.0/index.js", local) == 404
    assert _status(port, "/_solara/cdn/left-pad", local) == 404
    assert fetched == []


# --- the server ends with `qusayr viz` -----------------------------------------------------------


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


SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL)


@pytest.fixture(scope="module")
def viz_for_each_signal(tmp_path_factory):
    """A `qusayr viz` for each of ``SIGNALS`` on a free port of its own, all started at once: {signal: (process, port)}.

    Each takes seconds to serve its page (imports, the model), mostly on one core: side by side they are
    all serving in about half the time they took one after the other.
    """
    with ExitStack() as probes:  # free ports (--port 0 would do, but the CLI may refuse it), held until all are chosen
        sockets = [probes.enter_context(socket.socket()) for _ in SIGNALS]
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        ports = [probe.getsockname()[1] for probe in sockets]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started: dict[signal.Signals, tuple[subprocess.Popen, int]] = {}
    try:
        for signum, port in zip(SIGNALS, ports, strict=True):
            command = [sys.executable, "-m", "sim.cli", "viz", "--port", str(port)]
            cwd = tmp_path_factory.mktemp(signum.name)
            started[signum] = (subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE), port)
        yield started
    finally:  # whatever happened, leave no server behind
        for viz, _ in started.values():
            for pid in _children(viz.pid):
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
            if viz.poll() is None:
                viz.kill()
            viz.wait()
            viz.stdout.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_the_server_ends_with_qusayr_viz(signum, viz_for_each_signal):
    viz, port = viz_for_each_signal[signum]
    servers: list[int] = []
    try:
        assert f"127.0.0.1:{port}" in _first_line(viz, SERVER_START_S)  # "starting the page ..."
        assert f"http://127.0.0.1:{port}/" in viz.stdout.readline().decode()  # once the page answers
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
