"""Time zones named by data: one reading of a zone name for the engine, the profile view and policies."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo | None:
    """The zone named, or None for a name that is none: events carry any text (``America`` is a
    directory of the tz database and a 300-character name too long a file name, both ``OSError``)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
