"""Why a worker is not ready yet, told in its log while it sits ``starting``.

A worker whose stage groups never hand it partitions answers ``/health`` 503 ``starting`` for good, and at the
default log level its log said nothing more: an operator paged by CjoWorkerNotStarted, told by the runbook to
read the log, found its two start lines only (seen on the local broker, whose groups two members leaving at once
can wedge: README, "Quirks of the local broker"). The global tables have their own warning (``start: still
reading the global tables``); this one covers the groups and the restore after them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

#: Seconds a worker may take to be ready before each warning that it is not yet.
PATIENCE: Final = 30.0


@dataclass(frozen=True)
class Progress:
    """What a starting worker has done so far."""

    tables_read: bool  # the global tables are read (until then their own warning speaks)
    ingest_joined: bool  # stage 1 has joined its group
    assigned: bool  # stage 2 has received a partition assignment
    ready: bool  # stage 2's partitions are restored


def not_ready(p: Progress, ingest_group: str, customers_group: str) -> str | None:
    """What the worker still waits for, or None when nothing (or the global tables' own warning) explains it."""
    if not p.tables_read:
        return None
    waits = []
    if not p.ingest_joined:
        waits.append(f"stage 1 has not joined its group {ingest_group}")
    if not p.assigned:
        waits.append(f"stage 2 has had no partitions assigned in its group {customers_group}")
    elif not p.ready:
        waits.append("stage 2 is restoring its partitions from the changelogs")
    if not waits:
        return None
    hint = "" if p.ingest_joined and p.assigned else (  # (only restoring: no group to check)
        "; a group that never assigns: check it with your Kafka tools (kafka-consumer-groups --describe); on the "
        "local broker a group two members left at the same moment stays wedged until the broker restarts (README, "
        "\"Quirks of the local broker\")")
    return "; ".join(waits) + hint


async def tell_while_not_ready(progress: Callable[[], Progress | None], ingest_group: str, customers_group: str,
                               log: logging.Logger, patience: float = PATIENCE) -> None:
    """Every ``patience`` seconds until ``progress()`` is None (ready or stopping): one warning saying what the
    worker waits for."""
    t0 = time.monotonic()
    while True:
        await asyncio.sleep(patience)
        p = progress()
        if p is None:
            return
        why = not_ready(p, ingest_group, customers_group)
        if why is not None:
            log.warning("start: not ready after %.0f s: %s; /health answers 503 \"starting\" meanwhile",
                        time.monotonic() - t0, why)
