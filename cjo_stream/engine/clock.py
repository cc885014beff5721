"""Local-time arithmetic for quiet hours and ``wait_until`` (pure: takes ``now``, never reads a clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cjo_stream.profile import Profile


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


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
    """The first instant strictly after ``now`` when the local clock in ``tz`` shows ``hour:minute``."""
    local = datetime.fromtimestamp(now, tz)
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate.timestamp() <= now:
        candidate = (local + timedelta(days=1)).replace(hour=hour, minute=minute, second=0, microsecond=0)
    # Re-attach the zone after day arithmetic so a DST change between today and tomorrow is honoured.
    naive = candidate.replace(tzinfo=None)
    return naive.replace(tzinfo=tz).astimezone(UTC).timestamp()


def in_window(minutes: int, start: int, end: int) -> bool:
    """Whether a local time (minutes after midnight) lies in ``[start, end)``, wrapping midnight."""
    if start <= end:
        return start <= minutes < end
    return minutes >= start or minutes < end
