"""Events that came after a timer they happened before: where a decision went without an event it would have seen.

The engine decides each event at its own time and fires a customer's timers due by an event's time before applying
it, so an event that arrives after a timer of its customer fired, though it happened before the timer was due,
comes too late for what the timer decided (README, "Event time and lateness", "The limit"). Live, timers fire by the
wall clock (``CJO_TIMER_GRACE_MS`` after they are due): such an event is one its producer delivered late (a mobile
SDK's batch, a retry). Offline, ``simulate`` reads its file's order as the order of arrival and fires timers by the
latest time read: such an event is a line later in the file than one past the due time. ``replay`` applies events
in time order, where none comes after a timer it happened before.

:class:`FiredTimers` keeps, per customer, the latest timer fired that moved an instance (its due time and journey;
at most :data:`KEPT` customers, for :data:`HORIZON` seconds of the caller's clock). An event of that customer that
happened before the due time, and that the timer's journey listens to (its goal, an ``exit_on``, a ``wait_for`` or
one of its paths), is told to the caller with how long after the due time it came; an event at or after the due
time means the customer is past it: the entry goes. Best effort by design: more than :data:`KEPT` customers with
recent timers forget entries (a missed count, never a false one). The live worker keeps one per partition
(:mod:`cjo_stream.runtime.overtaken`), the simulator one for its run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from cjo_stream.journeys.model import Journey

#: Customers kept with their latest fired timer (the oldest go first): ~150 B each.
KEPT: Final = 32_768
#: Seconds of the caller's clock (live: the wall's) an entry is kept after its timer fired (CJO_ALLOWED_LATENESS's
#: default: an event later than that after the customer's latest is too late to start a journey anyway).
HORIZON: Final = 300.0


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
    """The latest fired timer per customer, for telling events that came after it (module doc)."""

    __slots__ = ("latest", "listens", "kept", "horizon")

    def __init__(self, listens: dict[str, frozenset[str]], kept: int = KEPT, horizon: float = HORIZON) -> None:
        self.listens = listens
        self.kept = kept
        self.horizon = horizon
        #: customer id -> (due time, journey, the caller's time it fired), the least recently fired first
        self.latest: dict[str, tuple[float, str, float]] = {}

    def fired(self, customer_id: str, journey: str, due: float, now: float) -> None:
        """A timer of ``journey`` due at ``due`` moved the customer's instance at ``now`` (the caller's clock)."""
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


def notes(overtaken: Mapping[str, int], after: Mapping[str, float]) -> list[str]:
    """``simulate``'s and ``replay``'s notes on events that came after a timer they happened before, one a journey."""
    out = []
    for journey, n in sorted(overtaken.items()):
        late = after.get(journey, 0.0)
        shown = f"{late:.1f} s" if late < 10 else f"{late:,.0f} s"
        out.append(f"{n} event(s) of journey {journey} came after a timer of their customer had fired, though they "
                   f"happened before it was due (read when the input's time was up to {shown} past the due time): "
                   "the timer decided without them, as a live worker does for events that arrive later than "
                   "CJO_TIMER_GRACE_MS (cjo_events_overtaken_total); in the order of their timestamps they would "
                   "have come first")
    return out
