"""Child processes that die with their parent, even when the parent is SIGKILLed or OOM-killed.

A parent's ``finally`` does not run on SIGKILL, so a child started in its own session (the local
broker, the demo's worker, ``worker --concurrency``'s processes) would stay behind holding its port
and memory. Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``), set in the child between fork
and exec, has the kernel signal the child when its parent goes. Elsewhere this is a no-op.

The signal is tied to the *thread* that forked the child: start these children from a thread that
lives as long as they should (the main thread here).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from cjo_stream.libc import load as load_libc

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL, new_session: bool = True) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the child receive ``sig`` when this process dies (None off Linux).

    ``new_session`` also starts a new session, like ``start_new_session=True``: a terminal's Ctrl-C
    then reaches only the parent, which stops its children in order.
    """
    libc = load_libc() if sys.platform.startswith("linux") else None  # (loaded here: in the child only the call runs)
    if libc is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        if new_session:
            os.setsid()
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


def popen(args: list[str], *, sig: int = signal.SIGKILL, new_session: bool = True,
          **kw: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen`` whose child receives ``sig`` when this process dies."""
    preexec = die_with_parent(sig, new_session)
    if preexec is None:
        return subprocess.Popen(args, start_new_session=new_session, **kw)
    return subprocess.Popen(args, preexec_fn=preexec, **kw)


__all__ = ["die_with_parent", "popen"]
