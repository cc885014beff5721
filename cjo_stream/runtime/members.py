"""The workers table (``<app>.workers``): which worker serves which customer partitions, for routed queries.

Each worker announces its URL and partitions whenever its assignment changes and every
``ANNOUNCE_EVERY`` seconds, and deletes its entry (a tombstone) when it stops cleanly. The topic is
``compact,delete`` with a retention of ``RETENTION``: a crashed worker's entry (keyed by a name that
includes its pid, so never rewritten) is deleted after a day instead of staying forever, while a live
worker's entry is always younger than that. Readers ignore entries older than ``STALE``, so the
table a worker keeps in memory is bounded by the workers alive recently, not by every process ever
started.
"""

from __future__ import annotations

import msgspec

ANNOUNCE_EVERY = 600.0
STALE = 3 * ANNOUNCE_EVERY
RETENTION = 86400.0
#: How far in the future an entry's time may be (clocks of hosts differ a little): one stamped years ahead
#: (written by someone with access to the topic) won every partition for good and took the routed queries,
#: callers' tokens included (a security review)
SKEW = 60.0


class WorkerInfo(msgspec.Struct):
    url: str
    partitions: list[int]
    at: float


def workers_topic_config() -> dict[str, str]:
    return {"cleanup.policy": "compact,delete", "retention.ms": str(int(RETENTION * 1000))}


def owner_url(workers: dict[str, WorkerInfo], partition: int, now: float) -> str | None:
    """The URL of the worker that announced ``partition`` last (recent entries only)."""
    best: WorkerInfo | None = None
    for info in workers.values():
        if (partition in info.partitions and -SKEW < now - info.at < STALE
                and (best is None or info.at > best.at)):
            best = info
    return best.url if best else None
