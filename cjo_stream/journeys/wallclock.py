"""Placing a local wall-clock time in a zone: one rule for every time a journey names.

Quiet hours' ends, ``wait_until``, best-time windows and schedules (``at``, ``cron``) all name local
times; on the two DST nights a local time names no instant (the spring-forward gap) or two (the
fall-back night). One rule for all of them, as cron runs a job the gap skips: the first instant at
which the clock shows that time or later.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=4096)
def steady(tz: ZoneInfo, day: int) -> bool:
    """Whether ``tz`` keeps one UTC offset from the start of the local day ``day`` (a proleptic ordinal)
    to the end of the next: then no local time of ``day`` is skipped or shown twice, and placing one
    takes a single conversion. (Checking each placed time instead was ~2,000 instructions per event of a
    replay, quiet hours' ends and ``wait_until`` placing one or two each: ``make instructions``.)"""
    start = datetime.fromordinal(day)
    return start.replace(tzinfo=tz).utcoffset() == (start + timedelta(days=2)).replace(tzinfo=tz).utcoffset()


def first_instant(wall: datetime, tz: ZoneInfo) -> float:
    """The first instant at or after the naive local time ``wall`` in ``tz``.

    Its own instant (the first of two on a fall-back night); for a time a spring-forward gap skips, the
    gap's end, not the zone rule's "as if the offset had not changed" (which lands the gap's length later).
    """
    if steady(tz, wall.toordinal()):
        return wall.replace(tzinfo=tz).timestamp()
    return exact_instant(wall, tz)


def exact_instant(wall: datetime, tz: ZoneInfo) -> float:
    """:func:`first_instant` found without :func:`steady`'s shortcut (any day; tests compare the two)."""
    t = wall.replace(tzinfo=tz).timestamp()
    if datetime.fromtimestamp(t, tz).replace(tzinfo=None) == wall:
        return t
    # In a gap: the clock shows less than ``wall`` at ``lo`` (placed with the offset after the change) and
    # more at ``hi``; the change between them is at a whole second, found by bisection.
    lo = int(wall.replace(tzinfo=tz, fold=1).timestamp()) - 1
    hi = int(t) + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return float(hi)
