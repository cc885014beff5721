"""Events that came after a timer they happened before: the one place a live worker decides otherwise than replay.

A timer fires ``CJO_TIMER_GRACE_MS`` after it is due, so an event from just before the due time that is still on
its way is applied first (README, "Event time and lateness"). An event later than that — a mobile SDK's batch sent
minutes after, a producer retrying, a partition a crashed worker held — reaches the customer after the timer has
decided without it: the reminder went out though the purchase had happened. ``replay`` over the same events would
have applied the event first. Nothing showed this happening, nor how long a grace would have caught it.

Each partition keeps, per customer, the latest timer it fired that moved an instance (its due time and journey;
at most :data:`KEPT` customers, for :data:`HORIZON` seconds of wall clock). An event of that customer that
happened before the due time, and that the timer's journey listens to (its goal, an ``exit_on``, a ``wait_for``
or one of its paths), is counted in ``cjo_events_overtaken_total{journey}``, and how long after the due time it
arrived in ``cjo_events_overtaken_seconds``: a grace above that would have let it in first. Each journey is
logged once a process (its id and that delay only: no customer, no payload). An event at or after the due time
means the customer is past it: the entry goes.

**Best effort, by design.** It is what this process saw: a restart, a partition handed to another worker or
more than :data:`KEPT` customers with recent timers in one partition forget entries (no false count, a missed
one). Timers the engine fires inline, before an event with a later time (a backlog), are not entered: events
overtaken that way are late events (``cjo_events_late_total``), which the engine catches up with.

**Cost.** The batch step looks the customer up in a dict only while that dict holds anything, one C-level
``get`` an event; everything else runs per fired timer or per overtaken event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final

from cjo_stream import metrics
from cjo_stream.journeys.model import Journey

log = logging.getLogger("cjo_stream.runtime.overtaken")

#: Customers a partition keeps its latest fired timer for (the oldest go first): ~150 B each.
KEPT: Final = 32_768
#: Wall-clock seconds an entry is kept after its timer fired (CJO_ALLOWED_LATENESS's default: an event later than
#: that after the customer's latest is too late to start a journey anyway).
HORIZON: Final = 300.0

_told: set[str] = set()


def listened(journeys: Iterable[Journey]) -> dict[str, frozenset[str]]:
    """Journey id -> the event names that can move its instances (goal, ``exit_on``, ``wait_for`` ways), over
    every loaded version."""
    out: dict[str, set[str]] = {}
    for j in journeys:
        names = out.setdefault(j.id, set())
        names.update(m.event for m in (j.goal, *j.exit_on) if m is not None)
        for step in j.steps.values():
            names.update(m.event for m, _ in step.ways)
    return {jid: frozenset(names) for jid, names in out.items() if names}


class FiredTimers:
    """One partition's latest fired timer per customer, for telling events that came after it (module doc)."""

    __slots__ = ("latest", "listens", "kept", "horizon")

    def __init__(self, listens: dict[str, frozenset[str]], kept: int = KEPT, horizon: float = HORIZON) -> None:
        self.listens = listens
        self.kept = kept
        self.horizon = horizon
        #: customer id -> (due time, journey, wall time it fired), the least recently fired first
        self.latest: dict[str, tuple[float, str, float]] = {}

    def fired(self, customer_id: str, journey: str, due: float, now: float) -> None:
        """A timer of ``journey`` due at ``due`` moved the customer's instance at wall time ``now``."""
        if journey not in self.listens:
            return  # no event can move this journey's instances: none can come too late for it
        latest = self.latest
        latest.pop(customer_id, None)
        latest[customer_id] = (due, journey, now)
        if len(latest) > self.kept or next(iter(latest.values()))[2] < now - self.horizon:
            self._forget(now)

    def _forget(self, now: float) -> None:
        latest, oldest = self.latest, now - self.horizon
        while latest:
            cid, (_, _, at) = next(iter(latest.items()))
            if len(latest) <= self.kept and at >= oldest:
                break
            del latest[cid]

    def check(self, customer_id: str, name: str, ts: float, now: float, out: list[tuple[str, float]]) -> None:
        """An event of a customer that has an entry (``latest``): if it happened before the timer was due and the
        journey listens to it, add (journey, seconds after the due time it arrived) to ``out``."""
        due, journey, _ = self.latest[customer_id]
        if ts >= due:
            del self.latest[customer_id]  # the customer's events are past the timer now
        elif name in self.listens[journey]:
            out.append((journey, now - due))


def publish(overtaken: list[tuple[str, float]], grace_ms: int) -> None:
    """A batch's overtaken events into ``cjo_events_overtaken_total`` and ``_seconds``; each journey new to this
    process logged once."""
    for journey, after in overtaken:
        metrics.EVENTS_OVERTAKEN.labels(journey).inc()
        metrics.EVENTS_OVERTAKEN_SECONDS.observe(after)
        if journey not in _told:
            _told.add(journey)
            log.warning("journey %s: an event arrived %.1f s after a timer of its customer was due, though it "
                        "happened before; the timer had decided without it (CJO_TIMER_GRACE_MS is %d ms; counted "
                        "in cjo_events_overtaken_total, README \"Event time and lateness\")", journey, after, grace_ms)
