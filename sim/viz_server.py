"""The process that serves the page: Solara's server, kept to its parent's life.

``sim.viz.serve`` (``qusayr viz``) binds 127.0.0.1 itself, so that a port it cannot have is
refused with one line before anything starts, and runs this module as its child on that socket:
``python -m sim.viz_server APP --fd N --parent PID``. What this adds to ``solara run APP``:

- the server ends with its parent: on Linux the kernel sends it SIGTERM when the parent dies, even
  by SIGKILL (``end_with_parent``); the parent forwards the signals that stop it.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

SHUTDOWN_GRACE_S = 5  # open connections get this long to close when the server is stopped


def end_with_parent(parent_pid: int) -> None:
    """The server's first act: on Linux, ask the kernel for SIGTERM when the parent dies; exit if it already has.

    A parent killed outright (SIGKILL) cannot forward anything, and the server would otherwise run
    on, holding its port. SIGTERM lets the server close its socket and connections in order.
    """
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1  # from <sys/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        sys.exit(1)


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
    from solara.server import settings

    settings.main.mode = "production"  # no reloader, no development tools: as `solara run --production`
    import solara.server.starlette as solara_server

    config = uvicorn.Config(
        solara_server.app,
        log_config=LOGGING_CONFIG,
        log_level="error",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )
    uvicorn.Server(config).run(sockets=[listener])
    return 0


if __name__ == "__main__":
    sys.exit(main())
