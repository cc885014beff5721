"""A service whose state directory's volume is full stops with one line and exit 3, not a traceback.

RocksDB (through rocksdict) reports a full disk as a plain ``Exception("IO error: ... No space left on
device ...")``. Met at a worker's partition assignment (reproduced on a full 64 MiB tmpfs), it was a
30-line traceback and exit 70, which the README reads as a bug in cjo-stream ("please report it"); the
analytics service exited 1 and an adapter 70, each with the traceback. A full volume is the operator's to
fix (free space, a larger volume), as an unwritable ``--data-dir`` at start is (exit 3); a restart alone
meets the same full disk.
"""

from __future__ import annotations

import errno
import logging
import os
from typing import NoReturn

from cjo_stream.errors import ExitCode

_ENOSPC_TEXT = os.strerror(errno.ENOSPC)  # "No space left on device", as RocksDB's IO errors quote it


def disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` or an exception it was raised from is a full disk (ENOSPC)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if _ENOSPC_TEXT in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def no_space(role: str, directory: str) -> str:
    """The one line for a full volume (without ``error:``)."""
    return (f"{role}: no space left on the volume of the data directory {directory}; free space on it or give it "
            "more, then start it again")


def exit_if_disk_full(exc: BaseException, role: str, directory: str, doing: str) -> None:
    """Log one line and exit 3 when ``exc`` is a full disk (for a worker's loops and rebalance listener, which
    stop the process with ``os._exit``); otherwise return (the caller's handling goes on)."""
    if disk_full(exc):
        _stop(role, directory, doing)


def _stop(role: str, directory: str, doing: str) -> NoReturn:
    logging.getLogger(f"cjo_stream.{role}").error("%s (%s); exiting (%d)", no_space(role, directory), doing,
                                                 int(ExitCode.NO_FILE))
    os._exit(int(ExitCode.NO_FILE))
