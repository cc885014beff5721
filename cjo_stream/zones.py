"""Time zones named by data: one reading of a zone name for the engine, the profile view and policies."""

from __future__ import annotations

from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: How many distinct names that are no zone :data:`unknown` keeps
UNKNOWN_KEPT: Final = 32
#: Names read that are no zone (the first :data:`UNKNOWN_KEPT`, in the order first read): the customers whose
#: data names one are timed in ``default_timezone`` without a word from the engine, so a worker reports them
#: (its log, ``cjo_unknown_timezones``), as ``simulate`` and ``replay`` do (:mod:`cjo_stream.zone_notes`).
unknown: dict[str, None] = {}


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo | None:
    """The zone named, or None for a name that is none: events carry any text (``America`` is a
    directory of the tz database and a 300-character name too long a file name, both ``OSError``)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        if len(unknown) < UNKNOWN_KEPT:  # once per name while cached: no cost per event
            unknown[name] = None
        return None
