"""Local-time arithmetic for quiet hours and ``wait_until`` (pure: takes ``now``, never reads a clock)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from cjo_stream.journeys.wallclock import first_instant, steady
from cjo_stream.profile import Profile
from cjo_stream.timefmt import split_us
from cjo_stream.zones import zone as zone


def customer_zone(p: Profile, default: ZoneInfo) -> ZoneInfo:
    """``traits.timezone``, else the last event's ``context.timezone``, else the policy default."""
    for name in (p.traits.get("timezone"), p.timezone):
        if isinstance(name, str) and name:
            z = zone(name)
            if z is not None:
                return z
    return default


#: a zone's UTC offset (seconds) around a UTC day, or :data:`_UNSTEADY`: see :func:`_steady_offset`
_offsets: dict[tuple[ZoneInfo, int], int] = {}
_OFFSETS_KEPT: Final = 65536
_UNSTEADY: Final = 1 << 40


def _steady_offset(tz: ZoneInfo, day: int) -> int:
    """``tz``'s UTC offset in seconds if it shows the same one at the start of each UTC day from ``day - 1``
    to ``day + 3``, else :data:`_UNSTEADY`; kept per zone and day.

    Why: placing a local time with ``datetime`` and the zone took ~40,000 instructions (quiet hours' ends,
    ``wait_until``, best time), and a send's local hour ~4,000 (callgrind of a replay, 2026-12-02); with
    the offset known steady the same answer is integer arithmetic. The five days hold every time the
    callers derive from an instant of ``day`` (a local day before to two after); a zone change and its
    undoing inside one day between two of the checks would go unseen, as :func:`steady` assumes too.
    """
    key = (tz, day)
    off = _offsets.get(key)
    if off is None:
        if len(_offsets) >= _OFFSETS_KEPT:
            _offsets.clear()
        seen = {tz.utcoffset(datetime.fromtimestamp(d * 86400, tz)) for d in range(day - 1, day + 4)}
        only = seen.pop() if len(seen) == 1 else None
        off = _offsets[key] = _UNSTEADY if only is None else int(only.total_seconds())
    return off


def local_minutes(now: float, tz: ZoneInfo) -> int:
    """Minutes after local midnight in ``tz`` at ``now``."""
    off = _steady_offset(tz, int(now // 86400))
    if off != _UNSTEADY:
        return (split_us(now)[0] + off) // 60 % 1440
    return zoned_local_minutes(now, tz)


def zoned_local_minutes(now: float, tz: ZoneInfo) -> int:
    """:func:`local_minutes` found with ``datetime`` and the zone (any day; tests compare the two)."""
    dt = datetime.fromtimestamp(now, tz)
    return dt.hour * 60 + dt.minute


def next_time_of_day(now: float, tz: ZoneInfo, hour: int, minute: int) -> float:
    """The first instant strictly after ``now`` when the local clock in ``tz`` shows ``hour:minute`` or later.

    On a spring-forward day that skips ``hour:minute``, the gap's end (the clock jumps past it then); on
    a fall-back night that shows it twice, the first showing after ``now``.
    """
    off = _steady_offset(tz, int(now // 86400))
    if off != _UNSTEADY:  # one offset over every day involved: the local day's time, or the next day's
        local = split_us(now)[0] + off
        t = float(local - local % 86400 + hour * 3600 + minute * 60 - off)
        return t if t > now else t + 86400.0
    return zoned_next_time_of_day(now, tz, hour, minute)


def next_time_on_days(now: float, tz: ZoneInfo, hour: int, minute: int, days: int) -> float:
    """:func:`next_time_of_day` on one of ``days`` (bit 0 Monday .. bit 6 Sunday; 0 or all seven: any day), the
    day being the local one the time falls on (a spring-forward gap's end too)."""
    t = next_time_of_day(now, tz, hour, minute)
    if (days & 0x7F) in (0, 0x7F):
        return t
    # 14 tries, not 7: a fall-back night shows a time twice on one day, and a zone may skip a whole day (Samoa
    # went from Thursday 29 to Saturday 31 December 2011), each costing a try without a new weekday
    for _ in range(14):
        if (days >> datetime.fromtimestamp(t, tz).weekday()) & 1:
            return t
        t = next_time_of_day(t, tz, hour, minute)  # (strictly after t: the next day's, or the time's second showing)
    return t


def in_time_window(now: float, tz: ZoneInfo, start: int, end: int, days: int) -> bool:
    """Whether the local time in ``tz`` at ``now`` is in ``[start, end)`` (minutes after midnight) on one of
    ``days`` (as :func:`next_time_on_days` reads them): a ``wait_until`` time window goes on at once there."""
    if not start <= local_minutes(now, tz) < end:
        return False
    return (days & 0x7F) in (0, 0x7F) or bool((days >> datetime.fromtimestamp(now, tz).weekday()) & 1)


def zoned_next_time_of_day(now: float, tz: ZoneInfo, hour: int, minute: int) -> float:
    """:func:`next_time_of_day` found with ``datetime`` and the zone (any day; tests compare the two)."""
    local = datetime.fromtimestamp(now, tz)
    wall = local.replace(tzinfo=None, hour=hour, minute=minute, second=0, microsecond=0)
    t = first_instant(wall, tz)
    if t <= now:
        if not steady(tz, wall.toordinal()):  # (the common day: the time is shown once)
            t = wall.replace(tzinfo=tz, fold=1).timestamp()  # the second showing of a fall-back night's time
        if t <= now:
            # day arithmetic on the wall clock, then placed in the zone: a DST change in between is honoured
            t = first_instant(wall + timedelta(days=1), tz)
    return t


def in_window(minutes: int, start: int, end: int) -> bool:
    """Whether a local time (minutes after midnight) lies in ``[start, end)``, wrapping midnight."""
    if start <= end:
        return start <= minutes < end
    return minutes >= start or minutes < end
