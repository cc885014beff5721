"""Send-time optimisation: each customer's best local hour per channel, learnt from engagement.

For every channel a ``wait_until: {best_time: <channel>}`` step names, the profile keeps an exponentially
decayed histogram of the local hours (the customer's zone) of their ``message_opened`` and
``message_clicked`` receipts on that channel: ``[count, last update (epoch s), 24 bytes]``, about 35
bytes per channel and only for customers who engaged. A bucket holds 0-255; an event adds
:data:`UNIT` to its hour after the others decayed (half-life :data:`HALF_LIFE`), and when a bucket
would overflow all are scaled down together, which keeps the ratios (the argmax is all that is used).

The wait goes to the next start of the customer's best hour reachable within ``within``; with fewer
than :data:`MIN_EVENTS` opens/clicks on the channel, to ``default``; never later than ``now + within``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from cjo_stream.engine.clock import next_time_of_day
from cjo_stream.profile import Profile

#: The receipts that show when a customer reads their messages.
ENGAGEMENT: Final = frozenset({"message_opened", "message_clicked"})
#: Below this many opens/clicks on a channel the step uses its ``default`` time.
MIN_EVENTS: Final = 5
#: Half-life of an open's weight: habits change, the last weeks count most.
HALF_LIFE: Final = 30 * 86400.0
#: What one open or click adds to its hour's bucket (0-255): enough resolution for decay to act.
UNIT: Final = 16


def record(p: Profile, channel: str, ts: float, hour: int) -> None:
    """Count an open/click at local ``hour`` (0-23) at time ``ts`` in the channel's histogram."""
    entry = p.engagement.get(channel)
    if entry is None:
        p.engagement[channel] = [1, int(ts), bytes(UNIT if h == hour else 0 for h in range(24))]
        return
    count, last, raw = int(entry[0]), int(entry[1]), entry[2]
    buckets = [float(b) for b in raw]
    if ts >= last:
        k = 0.5 ** ((ts - last) / HALF_LIFE)
        buckets = [b * k for b in buckets]
        buckets[hour] += UNIT
        last = int(ts)
    else:  # a late receipt: it decays by how much older it is
        buckets[hour] += UNIT * 0.5 ** ((last - ts) / HALF_LIFE)
    top = max(buckets)
    if top > 255:
        buckets = [b * 255 / top for b in buckets]
    entry[:] = [min(count + 1, 1 << 16), last, bytes(int(round(b)) for b in buckets)]


def best_hour(p: Profile, channel: str) -> list[int] | None:
    """The channel's 24 hour weights, or None while the customer has fewer than :data:`MIN_EVENTS`."""
    entry = p.engagement.get(channel)
    if entry is None or int(entry[0]) < MIN_EVENTS:
        return None
    return list(entry[2])


def best_time_due(p: Profile, channel: str, now: float, tz: ZoneInfo, default: tuple[int, int],
                  within: float) -> float:
    """When a ``best_time`` wait started at ``now`` ends: in ``(now, now + within]``."""
    limit = now + within
    weights = best_hour(p, channel)
    if weights is not None:
        best: tuple[int, float] | None = None  # (weight, -time): the heaviest hour, the soonest on a tie
        due = limit
        for h, w in enumerate(weights):
            if w <= 0:
                continue
            t = next_time_of_day(now, tz, h, 0)
            if t <= limit and (best is None or (w, -t) > best):
                best, due = (w, -t), t
        if best is not None:
            return due
    return min(next_time_of_day(now, tz, *default), limit)


def local_hour(ts: float, tz: ZoneInfo) -> int:
    return datetime.fromtimestamp(ts, tz).hour
