"""RFC 3339 times: formatting (every decision formats a few) and parsing, in epoch seconds."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final

from mypy_extensions import i64

#: The times an event may carry, 1970-01-01T00:00:00Z up to 2106-02-07T06:28:16Z: epoch seconds a customer's
#: duplicate record stores in 4 bytes (cjo_stream.dedupe), and far enough from the year 9999 for every
#: timer and schedule a journey can set (simulate and replay ended with a traceback beyond them)
MIN_TS: Final = 0.0
MAX_TS: Final = 4294967296.0  # 2**32


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


def split_us(ts: float) -> tuple[int, int]:
    """The whole seconds and microseconds ``datetime.fromtimestamp(ts)`` shows: rounded to the microsecond
    (half to even) as it rounds.

    ``math.modf`` and ``round`` in native arithmetic: compiled, both were Python calls (module attribute,
    argument tuple), ~2,400 instructions of each ``format_ts`` (callgrind, 2026-12-02). Exact as they are:
    a float less its integer part is exact, and so is ``x`` less its truncation.
    """
    sec = int(ts)  # toward zero, as modf splits
    x = (ts - sec) * 1e6
    us = int(x)
    d = x - us
    if d > 0.5 or (d == 0.5 and us & 1):
        us += 1
    elif d < -0.5 or (d == -0.5 and us & 1):
        us -= 1
    if us >= 1_000_000:
        sec += 1
        us -= 1_000_000
    elif us < 0:
        sec -= 1
        us += 1_000_000
    return sec, us


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
    sec, us = split_us(ts)
    minute, second = divmod(sec, 60)
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


# days in each month of a common year (index 1..12), as bytes: mypyc boxes a tuple of ints to index it
_IN_MONTH: Final = bytes((0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31))


def _digit(b: bytes, i: i64) -> i64:
    c: i64 = b[i] - 48
    return c if 0 <= c <= 9 else -100000  # any out-of-range part makes the whole time fail its checks


def common_epoch(text: str) -> float:
    """Epoch seconds of ``YYYY-MM-DDTHH:MM:SSZ`` or ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (years 1970..2105, a valid
    date and time), or -1.0 for any other text, which the caller parses the general way.

    Why: what Segment's libraries write, read without a ``datetime`` (msgspec's conversion and
    ``timestamp()`` were ~4,000 instructions of every decoded event, callgrind 2026-12-02). The value is
    the one ``datetime.timestamp()`` gives: whole microseconds divided by 10**6 (tests/test_timefmt.py
    compares the two over many times).
    """
    n = len(text)
    if n != 24 and n != 20 or not text.isascii():
        return -1.0
    b = text.encode()  # ASCII: its bytes index as small ints, without a string per character
    if n == 24:
        if b[19] != 46 or b[23] != 90:  # "." and "Z"
            return -1.0
        ms = _digit(b, 20) * 100 + _digit(b, 21) * 10 + _digit(b, 22)
    else:
        if b[19] != 90:
            return -1.0
        ms = 0
    if b[4] != 45 or b[7] != 45 or b[10] != 84 or b[13] != 58 or b[16] != 58:  # "-", "-", "T", ":", ":"
        return -1.0
    year = _digit(b, 0) * 1000 + _digit(b, 1) * 100 + _digit(b, 2) * 10 + _digit(b, 3)
    month = _digit(b, 5) * 10 + _digit(b, 6)
    day = _digit(b, 8) * 10 + _digit(b, 9)
    hour = _digit(b, 11) * 10 + _digit(b, 12)
    minute = _digit(b, 14) * 10 + _digit(b, 15)
    second = _digit(b, 17) * 10 + _digit(b, 18)
    if not (1970 <= year <= 2105 and 1 <= month <= 12 and 1 <= day and 0 <= hour <= 23 and 0 <= minute <= 59
            and 0 <= second <= 59 and 0 <= ms):
        return -1.0
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day > _IN_MONTH[month] + (1 if leap and month == 2 else 0):
        return -1.0
    y = year - 1
    before = (367 * month - 362) // 12 - (0 if month <= 2 else 1 if leap else 2)  # days before the month
    days = y * 365 + y // 4 - y // 100 + y // 400 - 719162 + before + day - 1  # since 1970-01-01
    return ((days * 86400 + hour * 3600 + minute * 60 + second) * 1_000_000 + ms * 1000) / 1_000_000


def round_ms(x: float) -> float:
    """``round(x, 3)``, the same float, without its decimal conversion (~2,900 instructions, a fold's
    every engine call; callgrind 2026-12-02) when ``x`` is at least a quarter of a millisecond from the
    midpoint between two milliseconds, which every time with millisecond precision is.

    Then the millisecond nearest ``x`` is beyond doubt (``x * 1000`` is off by far less than a quarter),
    and ``r / 1000`` is the float nearest that decimal, as ``round`` returns it.
    """
    if 0.0 <= x < 8e9:  # (times up to 2106: x * 1000 is exact to within 0.001)
        m = x * 1000.0
        r = int(m + 0.5)
        d = m - r
        if -0.25 < d < 0.25:
            return r / 1000
    return round(x, 3)
