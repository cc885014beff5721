"""Events that came after a timer they happened before: the one place a live worker decides otherwise than replay.

A timer fires ``CJO_TIMER_GRACE_MS`` after it is due, so an event from just before the due time that is still on
its way is applied first (README, "Event time and lateness"). An event later than that — a mobile SDK's batch sent
minutes after, a producer retrying, a partition a crashed worker held — reaches the customer after the timer has
decided without it: the reminder went out though the purchase had happened. ``replay`` over the same events would
have applied the event first. Nothing showed this happening, nor how long a grace would have caught it.

Each partition keeps, per customer and journey, the latest timer it fired that moved an instance, with the window
in which an event would have changed that decision: from the instance's entry for its goal and ``exit_on`` events,
from the start of the wait for a ``wait_for``'s events (at most :data:`KEPT` customers, for :data:`HORIZON` seconds
of wall clock: a mobile SDK sends a batch when the app is next opened, hours later). An event of that customer that
happened inside the window, before the due time, and that the window names, is counted in
``cjo_events_overtaken_total{journey}``; an event from before the instance's entry (or its wait) is not: replay
decides the same without it. ``cjo_events_overtaken_seconds`` observes the grace the timer would have needed to
apply it first: the time after the due time it arrived, or, for a timer already overdue when it was set (an entry
event from a device clock hours behind), after the timer fired plus the grace. Each journey is logged once a
process (its id and that delay only: no customer, no payload). An event at or after a due time means the customer
is past that timer: its entry goes.

**Best effort, by design.** It is what this process saw: a restart, a partition handed to another worker or
more than :data:`KEPT` customers with recent timers in one partition forget entries (a missed count); a ``when``
on the goal, exit or way is not evaluated (the name decides: an event the condition would refuse still counts). Timers the engine fires inline,
before an event with a later time (a backlog), are not entered: events overtaken that way are late events
(``cjo_events_late_total``), which the engine catches up with.

**Cost.** The batch step looks the customer up in a dict while that dict holds anything (with a day's horizon,
nearly always once timers fire), one C-level ``in`` an event; everything else runs per fired timer or per
overtaken event. Memory: at most :data:`KEPT` customers a partition.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final, NamedTuple

from cjo_stream import metrics
from cjo_stream.journeys.model import Journey

log = logging.getLogger("cjo_stream.runtime.overtaken")

#: Customers a partition keeps its latest fired timers for (the oldest go first): ~300 B each.
KEPT: Final = 32_768
#: Wall-clock seconds an entry is kept after its timer fired: a day, as mobile SDKs send what they queued offline
#: when the app is next opened (the entry goes earlier at the customer's next event after the due time).
HORIZON: Final = 86_400.0

_told: set[str] = set()


class Watch(NamedTuple):
    """One fired timer of one instance, and what would have changed its decision."""

    due: float
    could_fire: float  # the wall time the timer could fire at: its due time, or later when it was set overdue
    fired_at: float  # wall time it fired
    entered: float  # the instance's entry time: its goal and exit_on events count from then
    names: frozenset[str]  # the goal's and exit_on's event names
    wait_since: float  # when the wait_for began (its events count from then)
    wait_names: frozenset[str]  # the event names of the wait_for's ways (empty: the timer ended no wait_for)


def instance_names(journeys: Iterable[Journey]) -> dict[tuple[str, int], frozenset[str]]:
    """(journey id, version) -> the event names that end its instances from any step (goal, ``exit_on``)."""
    return {(j.id, j.version): frozenset(m.event for m in (j.goal, *j.exit_on) if m is not None) for j in journeys}


def watch_of(journey: Journey, step: str, waiting: str | None, entered: float, since_ms: int | None, due: float,
             fired_at: float, grace: float, names: frozenset[str]) -> Watch | None:
    """What a timer that woke the instance at ``step`` (parked ``waiting``) decided without; None: nothing could
    have changed it."""
    st = journey.steps.get(step)
    wait_names = frozenset(m.event for m, _ in st.ways) if waiting == "wait_for" and st is not None else frozenset()
    if not names and not wait_names:
        return None
    since = entered + (since_ms or 0) / 1000.0
    return Watch(due, max(due, fired_at - grace), fired_at, entered, names, since, wait_names)


class FiredTimers:
    """One partition's latest fired timers per customer and journey, for telling events that came after them
    (module doc)."""

    __slots__ = ("latest", "kept", "horizon")

    def __init__(self, kept: int = KEPT, horizon: float = HORIZON) -> None:
        self.kept = kept
        self.horizon = horizon
        #: customer id -> journey -> its latest fired timer, the customers least recently fired first
        self.latest: dict[str, dict[str, Watch]] = {}

    def fired(self, customer_id: str, journey: str, w: Watch) -> None:
        """A timer of ``journey`` moved the customer's instance (``w``)."""
        latest = self.latest
        mine = latest.pop(customer_id, None) or {}
        mine[journey] = w
        latest[customer_id] = mine
        if len(latest) > self.kept or _newest(next(iter(latest.values()))) < w.fired_at - self.horizon:
            self._forget(w.fired_at)

    def _forget(self, now: float) -> None:
        latest, oldest = self.latest, now - self.horizon
        while latest:
            cid, mine = next(iter(latest.items()))
            if len(latest) <= self.kept and _newest(mine) >= oldest:
                break
            del latest[cid]

    def check(self, customer_id: str, name: str, ts: float, now: float, out: list[tuple[str, float]]) -> None:
        """An event of a customer that has an entry (``latest``): for each journey whose fired timer it happened
        before, inside the window of what could have changed the decision, add (journey, the grace the timer
        would have needed) to ``out``."""
        mine = self.latest[customer_id]
        for journey, w in list(mine.items()):
            if ts >= w.due:
                del mine[journey]  # the customer's events are past this timer now
            elif (ts >= w.entered and name in w.names) or (ts >= w.wait_since and name in w.wait_names):
                out.append((journey, now - w.could_fire))
        if not mine:
            del self.latest[customer_id]


def _newest(mine: dict[str, Watch]) -> float:
    return max(w.fired_at for w in mine.values())


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
