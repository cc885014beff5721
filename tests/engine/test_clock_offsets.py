"""Local times placed with a zone's steady offset equal the ones placed with ``datetime`` and the zone."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from cjo_stream.engine.clock import (
    local_minutes,
    next_time_of_day,
    zoned_local_minutes,
    zoned_next_time_of_day,
)

#: zones with DST (whole hours, half an hour on Lord Howe), odd offsets, a date-line jump (Apia, end of
#: 2011) and none
ZONES = ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "America/St_Johns",
         "Pacific/Chatham", "Pacific/Apia", "Europe/London", "America/Santiago", "UTC", "Asia/Tokyo")


def _instants(rng: random.Random, zone: ZoneInfo) -> list[float]:
    """Random instants, and instants around each of the zone's offset changes over 2010-2030."""
    out = [rng.uniform(0, 2**32) for _ in range(400)]
    t = datetime(2010, 1, 1, tzinfo=UTC).timestamp()
    prev = zone.utcoffset(datetime.fromtimestamp(t, zone))
    while t < datetime(2030, 1, 1, tzinfo=UTC).timestamp():
        t += 3 * 3600
        off = zone.utcoffset(datetime.fromtimestamp(t, zone))
        if off != prev:  # a change in the last 3 hours: times around it, to the second and below
            prev = off
            for d in (-2 * 86400, -86400, -3 * 3600, -3600, -1, -0.0005, 0, 0.9999996, 1800, 86400, 2 * 86400):
                out.append(t + d + rng.choice((0.0, 0.25, 59.9999997)))
    return out


@pytest.mark.parametrize("name", ZONES)
def test_the_steady_offset_places_times_as_the_zone_does(name: str) -> None:
    zone = ZoneInfo(name)
    rng = random.Random(name)
    for now in _instants(rng, zone):
        assert local_minutes(now, zone) == zoned_local_minutes(now, zone), (name, now)
        for hour, minute in ((0, 0), (2, 30), (rng.randrange(24), rng.randrange(60)), (23, 59)):
            assert next_time_of_day(now, zone, hour, minute) == zoned_next_time_of_day(now, zone, hour, minute), \
                (name, now, hour, minute)
