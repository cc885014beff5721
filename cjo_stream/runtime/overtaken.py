"""Events that came after a timer they happened before, told by a live worker: where it decides otherwise than replay.

A timer fires ``CJO_TIMER_GRACE_MS`` after it is due, so an event from just before the due time that is still on
its way is applied first (README, "Event time and lateness"). An event later than that — a mobile SDK's batch sent
when the app is next opened, a producer retrying, a partition a crashed worker held — reaches the customer after
the timer has decided without it: the reminder went out though the purchase had happened. ``replay`` over the same
events applies it first.

Each stage-2 partition keeps a :class:`~cjo_stream.engine.overtaken.FiredTimers` of the timers it fired by the wall
clock (what it tells, and its bounds, are in that module). The events it tells are counted in
``cjo_events_overtaken_total{journey}``, and the grace each needed in ``cjo_events_overtaken_seconds``. Each journey
is logged once a process (its id and that delay only: no customer, no payload). A restart or a partition handed to
another worker forgets entries (a missed count). Timers the engine fires inline, before an event with a later time
(a backlog), are not entered: events overtaken that way are late events (``cjo_events_late_total``), which the
engine catches up with.

**Cost.** The batch step looks the customer up in a dict while that dict holds anything (with a day's horizon,
nearly always once timers fire), one C-level ``in`` an event; the rest runs per fired timer or overtaken event.
"""

from __future__ import annotations

import logging

from cjo_stream import metrics

log = logging.getLogger("cjo_stream.runtime.overtaken")

_told: set[str] = set()


def publish(overtaken: list[tuple[str, float]], grace_ms: int) -> None:
    """A batch's overtaken events into ``cjo_events_overtaken_total`` and ``_seconds``; each journey new to this
    process logged once."""
    for journey, after in overtaken:
        metrics.EVENTS_OVERTAKEN.labels(journey).inc()
        metrics.EVENTS_OVERTAKEN_SECONDS.observe(after)
        if journey not in _told:
            _told.add(journey)
            log.warning("journey %s: an event arrived %.1f s after a timer it happened before could fire; the timer had "
                        "decided without it (a CJO_TIMER_GRACE_MS above that would have applied it first; it is %d ms, "
                        "at most 60000; counted in cjo_events_overtaken_total, docs/operations.md CjoEventsOvertaken)",
                        journey, after, grace_ms)
