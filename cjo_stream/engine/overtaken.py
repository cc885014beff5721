"""Events that came after a timer they happened before: where a decision went without an event it would have seen.

The engine decides each event at its own time and fires a customer's timers due by an event's time before applying
it, so an event that arrives after a timer of its customer fired, though it happened before the timer was due, comes
too late for what the timer decided (README, "Event time and lateness", "The limit"). Live, timers fire by the wall
clock (``CJO_TIMER_GRACE_MS`` after they are due): such an event is one its producer delivered late (a mobile SDK's
batch sent when the app is next opened, a retry). Offline, ``simulate`` and ``replay --events`` read a file's order
as the order of arrival and fire timers by the latest time read: such an event is a line later in the file than one
past the due time. In time order none comes after a timer it happened before.

:class:`FiredTimers` keeps, per customer and journey, the latest timer fired that moved an instance, with the window
in which an event would have changed that decision (:class:`Watch`): from the instance's entry for its goal and
``exit_on`` events, from the start of the wait for a ``wait_for``'s events (at most :data:`KEPT` customers, for
:data:`HORIZON` seconds of the caller's clock). An event of that customer inside the window, before the due time,
that the window names, is told to the caller with the grace the timer would have needed to apply it first: the time
after the due time it arrived or, for a timer already overdue when it was set (an entry from a device clock hours
behind), after the timer fired plus the grace. An event from before the instance's entry (or its wait) is not:
replay decides the same without it. An event at or after a due time means the customer is past that timer: its
entry goes.

**Best effort, by design.** More than :data:`KEPT` customers with recent timers forget entries (a missed count); a
``when`` on the goal, exit or way is not evaluated (the name decides). The live worker keeps one per partition
(:mod:`cjo_stream.runtime.overtaken`), the simulator one for its run. Compiled (mypyc): the simulator calls it
for every timer it fires.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, NamedTuple

from cjo_stream.engine.types import Timer
from cjo_stream.journeys.model import Journey
from cjo_stream.profile import Profile

#: Customers kept with their latest fired timers (the oldest go first): ~450 B each (a dict and a Watch), so at most
#: ~3.7 MB a worker partition.
KEPT: Final = 8_192
#: Seconds of the caller's clock (live: the wall's) an entry is kept after its timer fired: a day, as mobile SDKs
#: send what they queued offline when the app is next opened (it goes earlier at the customer's next event after
#: the due time).
HORIZON: Final = 86_400.0

#: What an instance was doing when its timer woke it (version, step, waiting, entered_at, since_ms): the engine
#: moves the instance on in place
Before = tuple[int, str, str | None, float, int | None]


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
    """The latest fired timers per customer and journey, for telling events that came after them (module doc)."""

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


def before(profile: Profile, timer: Timer) -> Before | None:
    """What the instance ``timer`` wakes was doing, taken before the engine fires it (None: no such instance)."""
    inst = profile.instances.get(timer.journey)
    if inst is None or inst.instance_id != timer.instance_id:
        return None
    return (inst.version, inst.step, inst.waiting, inst.entered_at, inst.since_ms)


def watch_after(versions: Mapping[tuple[str, int], Journey], ends_on: Mapping[tuple[str, int], frozenset[str]],
                timer: Timer, was: Before, fired_at: float, grace: float) -> Watch | None:
    """The :class:`Watch` of a fired timer that moved the instance it woke (``was``: :func:`before`)."""
    version, step, waiting, entered, since_ms = was
    journey = versions.get((timer.journey, version))
    if journey is None:
        return None
    return watch_of(journey, step, waiting, entered, since_ms, timer.due, fired_at, grace,
                    ends_on.get((timer.journey, version), frozenset()))


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
