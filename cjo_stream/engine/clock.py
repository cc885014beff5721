"""Local-time arithmetic for quiet hours and ``wait_until`` (pure: takes ``now``, never reads a clock)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cjo_stream.journeys.wallclock import first_instant, steady
from cjo_stream.profile import Profile
from cjo_stream.zones import zone as zone


def customer_zone(p: Profile, default: ZoneInfo) -> ZoneInfo:
    """``traits.timezone``, else the last event's ``context.timezone``, else the policy default."""
    for name in (p.traits.get("timezone"), p.timezone):
        if isinstance(name, str) and name:
            z = zone(name)
            if z is not None:
                return z
    return default


def local_minutes(now: float, tz: ZoneInfo) -> int:
    dt = datetime.fromtimestamp(now, tz)
    return dt.hour * 60 + dt.minute


def next_time_of_day(now: float, tz: ZoneInfo, hour: int, minute: int) -> float:
    """The first instant strictly after ``now`` when the local clock in ``tz`` shows ``hour:minute`` or later.

    On a spring-forward day that skips ``hour:minute``, the gap's end (the clock jumps past it then); on
    a fall-back night that shows it twice, the first showing after ``now``.
    """
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
