"""The process that serves the page: Solara's server, kept to this machine and to its parent's life.

``sim.viz.serve`` (``qusayr viz``) binds 127.0.0.1 itself, so that a port it cannot have is
refused with one line before anything starts, and runs this module as its child on that socket:
``python -m sim.viz_server APP --fd N --parent PID``. What this adds to ``solara run APP``:

- the server ends with its parent: on Linux the kernel sends it SIGTERM when the parent dies, even
  by SIGKILL (``sim.lifetime.end_with_parent``); the parent forwards the signals that stop it;
- only requests addressed to this machine are served (``LocalOnly``): a Host header naming another
  host (DNS rebinding) or an Origin header of another site (a page elsewhere opening the websocket)
  is refused;
- the page reaches nothing off the machine: Solara serves its browser assets from the installed
  solara-assets package at ``/_solara/cdn/`` and would fetch one it lacks from a CDN
  (jsdelivr); here a missing asset is a 404 (``refuse_cdn_fetch``), so the page works offline or
  not at all, never half online.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sim.lifetime import end_with_parent

LOCAL_HOST_NAMES = ("127.0.0.1", "localhost", "[::1]")  # the names a browser on this machine may use
SHUTDOWN_GRACE_S = 5  # open connections get this long to close when the server is stopped

Scope = dict[str, Any]
Asgi = Callable[[Scope, Callable, Callable], Awaitable[None]]


class LocalOnly:
    """ASGI middleware: serve only requests to this machine's page, sent by that page or by no page.

    A request must carry one Host header naming 127.0.0.1, localhost or [::1] with the server's
    port (else 400); every Origin header it carries (browsers send one on websocket handshakes and
    cross-site requests) must be such a host too, over http (else 403; a websocket handshake is
    refused with 403 by closing before accepting). Requests without Origin (the page's own
    requests, command-line clients) pass.
    """

    def __init__(self, app: Asgi, port: int) -> None:
        self.app = app
        hosts = {f"{name}:{port}" for name in LOCAL_HOST_NAMES}
        if port == 80:  # a browser leaves out the default port
            hosts |= set(LOCAL_HOST_NAMES)
        self.hosts = frozenset(hosts)
        self.origins = frozenset(f"http://{host}" for host in hosts)

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        """Pass the request on, or refuse it (lifespan events pass)."""
        if scope["type"] in ("http", "websocket"):
            hosts = _header_values(scope, b"host")
            if len(hosts) != 1 or hosts[0] not in self.hosts:
                return await _refuse(scope, receive, send, 400, "this page answers only to 127.0.0.1 or localhost")
            if any(origin not in self.origins for origin in _header_values(scope, b"origin")):
                return await _refuse(scope, receive, send, 403, "this page takes requests only from itself")
        await self.app(scope, receive, send)


def _header_values(scope: Scope, name: bytes) -> list[str]:
    """Every value of the header ``name`` (lower case) in the request, lower-cased."""
    return [value.decode("latin-1").strip().lower() for key, value in scope["headers"] if key.lower() == name]


async def _refuse(scope: Scope, receive: Callable, send: Callable, status: int, reason: str) -> None:
    from starlette.responses import PlainTextResponse
    from starlette.websockets import WebSocketClose

    if scope["type"] == "http":
        await PlainTextResponse(reason + "\n", status_code=status)(scope, receive, send)
    else:  # closing a websocket before accepting it answers the handshake with 403
        await WebSocketClose(code=1008, reason=reason)(scope, receive, send)


def refuse_cdn_fetch(url: str) -> bytes:
    """Solara's fetch of a browser asset missing from solara-assets: refused, so the asset is a 404."""
    raise LookupError(f"{url}: not among the installed browser assets, and the page fetches nothing off the machine")


def main(argv: list[str] | None = None) -> int:
    """Serve ``app`` on the listening socket ``--fd`` until stopped, as a child of ``--parent``."""
    parser = argparse.ArgumentParser(prog="python -m sim.viz_server", description=__doc__.splitlines()[0])
    parser.add_argument("app", type=Path, help="the page: a Solara app file")
    parser.add_argument("--fd", type=int, required=True, help="a socket already listening (inherited)")
    parser.add_argument("--parent", type=int, required=True, help="the process id this server must not outlive")
    args = parser.parse_args(argv)
    end_with_parent(args.parent)
    listener = socket.socket(fileno=args.fd)
    os.environ["SOLARA_APP"] = str(args.app)  # read when Solara's server module is imported

    import uvicorn
    from solara.__main__ import LOGGING_CONFIG
    from solara.server import cdn_helper, settings

    settings.main.mode = "production"  # no reloader, no development tools: as `solara run --production`
    cdn_helper.fetch_from_cdn = refuse_cdn_fetch
    import solara.server.starlette as solara_server

    config = uvicorn.Config(
        LocalOnly(solara_server.app, listener.getsockname()[1]),
        log_config=LOGGING_CONFIG,
        log_level="error",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )
    # Ctrl-C reaches the whole process group; uvicorn shuts down, then raises it again: not an error
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[listener])
    return 0


if __name__ == "__main__":
    sys.exit(main())
