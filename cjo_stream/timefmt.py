"""RFC 3339 times: formatting (every decision formats a few) and parsing, in epoch seconds."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final

#: The times an event may carry, 1970-01-01T00:00:00Z up to 2106-02-07T06:28:16Z: epoch seconds a customer's
#: duplicate record stores in 4 bytes (cjo_stream.dedupe), and far enough from the year 9999 for every
#: timer and schedule a journey can set (simulate and replay ended with a traceback beyond them)
MIN_TS = 0.0
MAX_TS = float(2**32)


@lru_cache(maxsize=1024)
def _day(day: int) -> str:
    return datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%dT")


# the digits of a time of day, looked up (formatting them was most of a format_ts)
_TWO: Final = tuple(f"{i:02d}" for i in range(60))
_MILLIS: Final = tuple(f".{i:03d}Z" for i in range(1000))
#: the last time formatted and its text: a decision formats the same time several times (the event's
#: own, the instance's entry, ``decided_at``), one after another
_last: tuple[float, str] = (math.nan, "")
#: ``YYYY-MM-DDTHH:MM:`` per epoch minute: most times formatted are distinct, but a minute holds many
#: (a replay's 5 days: ~7,200 minutes for ~170,000 times); bounded, emptied when full
_minutes: dict[int, str] = {}
_MINUTES_KEPT: Final = 65536


def format_ts(ts: float) -> str:
    """RFC 3339 in UTC with millisecond precision and a ``Z`` suffix (stable, byte-identical output).

    Rounds to the microsecond as ``datetime.fromtimestamp`` does (half to even), then truncates to the
    millisecond. Only the date goes through ``datetime`` (cached per day: strftime was ~10 µs of every
    decision, measured in a replay profile); the time of day is POSIX arithmetic (UTC has no leap
    seconds in epoch time), so history spread over many seconds costs no more than a burst.
    """
    global _last
    last = _last
    if last[0] == ts:
        return last[1]
    frac, sec = math.modf(ts)
    us = round(frac * 1e6)
    if us >= 1_000_000:
        sec += 1
        us -= 1_000_000
    elif us < 0:
        sec -= 1
        us += 1_000_000
    minute, second = divmod(int(sec), 60)
    head = _minutes.get(minute)
    if head is None:
        if len(_minutes) >= _MINUTES_KEPT:
            _minutes.clear()
        day, rest = divmod(minute, 1440)
        hour, rest = divmod(rest, 60)
        head = _minutes[minute] = _day(day) + _TWO[hour] + ":" + _TWO[rest] + ":"
    text = head + _TWO[second] + _MILLIS[us // 1000]
    _last = (ts, text)
    return text


def parse_ts(text: str) -> float:
    """Parse an RFC 3339 / ISO 8601 time (``Z`` allowed) into epoch seconds; naive means UTC."""
    # RFC 3339 allows a lowercase z, as the event decoder (msgspec) reads it; fromisoformat does not
    dt = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    t = dt.timestamp()
    if not MIN_TS <= t < MAX_TS:
        raise ValueError(f"{text!r} is not between 1970-01-01T00:00:00Z and 2106-02-07T06:28:16Z")
    return t
