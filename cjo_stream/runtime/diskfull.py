"""A worker whose data directory's volume is full stops with one line and exit 3, not a traceback and 70.

RocksDB (through rocksdict) reports a full disk as a plain ``Exception("IO error: ... No space left on
device ...")``; a worker that met it opening its stores at a partition assignment logged a 30-line
traceback and exited 70, which the README reads as a bug in cjo-stream ("please report it"). A full
volume is the operator's to fix (free space, a larger volume), as an unwritable ``--data-dir`` at start is
(exit 3); a restart alone meets the same full disk.
"""

from __future__ import annotations

import errno
import logging
import os
from typing import NoReturn

from cjo_stream.errors import ExitCode

log = logging.getLogger("cjo_stream.worker")

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


def exit_if_disk_full(exc: BaseException, data_dir: str, doing: str) -> None:
    """Log one line and exit 3 when ``exc`` is a full disk; otherwise return (the caller's handling goes on)."""
    if disk_full(exc):
        stop_disk_full(data_dir, doing)


def stop_disk_full(data_dir: str, doing: str) -> NoReturn:
    log.error("worker: no space left on the volume of the data directory %s (%s); free space on it or give it "
              "more, then start the worker again; exiting (%d)", data_dir, doing, int(ExitCode.NO_FILE))
    os._exit(int(ExitCode.NO_FILE))
