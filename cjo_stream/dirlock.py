"""A directory's owner lock: an exclusive ``flock`` on its ``owner.lock``, held for the owning process's life.

The kernel releases it however the process ends (SIGKILL and the out-of-memory killer included), so whoever can take
it knows that no live process uses the directory: no pid to guess from, none reused by another process. Used for a
state directory two processes must not share (:mod:`cjo_stream.kafka.memberships`) and for the temporary directories
a later process may remove once their owner is gone (:mod:`cjo_stream.scratch`).
"""

from __future__ import annotations

import fcntl
import os

#: The lock file's name in the directory it guards.
LOCK = "owner.lock"


def lock(fd: int) -> bool:
    """Lock the open lock file ``fd`` for this process (non-blocking); False if a live process holds it.

    ``fd`` must stay open as long as the lock should hold: closing it releases the lock. (Open it non-inheritable,
    as ``os.open`` does: a child holding a copy would keep the lock after this process ended.)"""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def take(fd: int) -> bool:
    """:func:`lock`, then write this process's pid into the file, for the message of whoever finds it held
    (:func:`holder`); False if a live process holds it."""
    if not lock(fd):
        return False
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return True


def holder(fd: int) -> str:
    """The pid the live holder of the lock file ``fd`` wrote into it (``?`` if none can be read)."""
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
    except OSError:
        return "?"
