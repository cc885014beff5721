"""Temporary directories that a later process can tell are abandoned, and removing those.

Without ``CJO_ADAPTER_STATE_DIR`` an adapter keeps its sent-record and consent table in temporary directories
(``cjo-sent-*``, ``cjo-withheld-*``), removed when it stops cleanly; one SIGKILLed or OOM-killed leaves them behind,
RocksDB stores and all, and a host collected hundreds. Each is now made holding its owner lock (:mod:`cjo_stream.dirlock`),
and the lock file only appears under its name once locked, so a directory whose lock can be taken belongs to a process
that is gone: :func:`sweep`, run as an adapter starts, removes those, and only the current user's. A directory without a
lock file (made by an older version) cannot be told from a live one's: it is left, and counted.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

from cjo_stream import dirlock


@dataclass
class Scratch:
    """A temporary directory and the open lock file that says its process is alive (closing it: :meth:`remove`)."""

    path: str
    fd: int | None

    def remove(self) -> None:
        """Delete the directory, then let go of its lock (in that order: nobody else deletes it meanwhile)."""
        shutil.rmtree(self.path, ignore_errors=True)
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)


def make(prefix: str) -> Scratch:
    """A new temporary directory (``tempfile.mkdtemp``), its lock held by this process until :meth:`Scratch.remove`
    or the process's end. (The lock file is made and locked under another name, then renamed: a :func:`sweep` by
    another process never finds it unlocked while this one lives.)"""
    path = tempfile.mkdtemp(prefix=prefix)
    making = os.path.join(path, dirlock.LOCK + ".new")
    fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    if not dirlock.take(fd):  # (a file nobody else can have opened: only a filesystem without locks)
        os.close(fd)
        return Scratch(path, None)
    os.rename(making, os.path.join(path, dirlock.LOCK))
    return Scratch(path, fd)


@dataclass(frozen=True)
class Swept:
    removed: int  # directories of processes that are gone, removed
    unlocked: int  # directories without a lock file (an older version's, live or not): left


def sweep(prefixes: Iterable[str], parent: str | None = None) -> Swept:
    """Remove the directories named ``prefix*`` in ``parent`` (default: the temporary directory) that belong to this
    user and whose lock no live process holds (this one's own included: each lock is held on its own open file)."""
    parent = parent or tempfile.gettempdir()
    starts = tuple(prefixes)
    try:
        names = os.listdir(parent)
    except OSError:
        return Swept(0, 0)
    uid = os.geteuid()
    removed = unlocked = 0
    for name in names:
        if not name.startswith(starts):
            continue
        path = os.path.join(parent, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid:  # (never a link, never another user's)
            continue
        try:
            fd = os.open(os.path.join(path, dirlock.LOCK), os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            unlocked += not os.path.lexists(os.path.join(path, dirlock.LOCK + ".new"))  # (.new: being made now)
            continue
        except OSError:
            continue
        try:
            if not dirlock.lock(fd):
                continue  # its process is alive
            shutil.rmtree(path, ignore_errors=True)  # (holding the lock: another sweep skips it meanwhile)
            removed += not os.path.lexists(path)
        finally:
            os.close(fd)
    return Swept(removed, unlocked)
