"""Child processes that end with their parent: pool workers and the page's server.

``child_pool`` is the process pool every local pool of the project is: spawned processes that ask,
first, to end with their parent (``end_with_parent``), then run the pool's own initializer.

A parent killed outright (SIGKILL, or SIGTERM before its shutdown runs) cannot stop its children:
pool workers would go on running the runs it had asked for, taking the cores from the next
command, and the page's server would go on holding its port. On Linux the kernel can send a child
a signal when its parent dies (``prctl(PR_SET_PDEATHSIG)``); SIGTERM lets the child close its
files and sockets in order. This module imports nothing of the project.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def end_with_parent(parent_pid: int) -> None:
    """A child's first act: ask for SIGTERM when the parent dies; exit at once if it already has.

    Where the request is not available (not Linux) or not granted, the child runs on as before,
    ended by its parent's own shutdown. A parent that died before the request took effect is
    caught by comparing the parent's pid with the one the parent passed.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
            return
    if os.getppid() != parent_pid:
        os._exit(1)


def child_pool(workers: int, initializer: Callable | None = None, initargs: tuple = ()) -> cf.ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes that end with this one, each starting with ``initializer(*initargs)``."""
    return cf.ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_child,
        initargs=(os.getpid(), initializer, initargs),
    )


def _start_child(parent_pid: int, initializer: Callable | None, initargs: tuple) -> None:
    end_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)
