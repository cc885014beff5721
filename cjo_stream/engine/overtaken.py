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
from typing import Final

from cjo_stream.engine.types import Timer
from cjo_stream.journeys.model import Journey
from cjo_stream.profile import Profile

#: Customers kept with their latest fired timers (the oldest go first): ~400 B each with one journey's (a dict and a
#: Watch; tracemalloc), so ~3.3 MB a worker partition at most.
KEPT: Final = 8_192
#: Seconds of the caller's clock (live: the wall's) an entry is kept after its timer fired: a day, as mobile SDKs
#: send what they queued offline when the app is next opened (it goes earlier at the customer's next event after
#: the due time).
HORIZON: Final = 86_400.0

#: What an instance was doing when its timer woke it (version, step, waiting, entered_at, since_ms): the engine
#: moves the instance on in place
Before = tuple[int, str, str | None, float, int | None]


class Watch:
    """One fired timer of one instance, and what would have changed its decision (a compiled class: made for every
    timer the simulator fires; a NamedTuple was a Python-level call)."""

    __slots__ = ("due", "could_fire", "fired_at", "entered", "names", "wait_since", "wait_names")

    def __init__(self, due: float, could_fire: float, fired_at: float, entered: float, names: frozenset[str],
                 wait_since: float, wait_names: frozenset[str]) -> None:
        self.due = due
        self.could_fire = could_fire  # when the timer could fire: its due time, or later when it was set overdue
        self.fired_at = fired_at  # the caller's time it fired
        self.entered = entered  # the instance's entry time: its goal and exit_on events count from then
        self.names = names  # the goal's and exit_on's event names
        self.wait_since = wait_since  # when the wait_for began (its events count from then)
        self.wait_names = wait_names  # the event names of the wait_for's ways (empty: the timer ended no wait_for)


def instance_names(journeys: Iterable[Journey]) -> dict[tuple[str, int], frozenset[str]]:
    """(journey id, version) -> the event names that end its instances from any step (goal, ``exit_on``)."""
    return {(j.id, j.version): frozenset(m.event for m in (j.goal, *j.exit_on) if m is not None) for j in journeys}


class Listens:
    """What moves each loaded journey version's instances, looked up once a fired timer instead of built."""

    __slots__ = ("ends_on", "waits_on")

    def __init__(self, journeys: Iterable[Journey]) -> None:
        js = list(journeys)
        self.ends_on = instance_names(js)
        #: (journey id, version, step) -> the event names of that wait_for step's ways
        self.waits_on: dict[tuple[str, int, str], frozenset[str]] = {
            (j.id, j.version, sid): frozenset(m.event for m, _ in st.ways) for j in js for sid, st in j.steps.items()
            if st.ways}


_NONE: Final[frozenset[str]] = frozenset()
#: Fired timers between two looks for entries older than the horizon.
_TRIM_EVERY: Final = 1024


class FiredTimers:
    """The latest fired timers per customer and journey, for telling events that came after them (module doc)."""

    __slots__ = ("latest", "kept", "horizon", "_since_trim")

    def __init__(self, kept: int = KEPT, horizon: float = HORIZON) -> None:
        self.kept = kept
        self.horizon = horizon
        #: customer id -> journey -> its latest fired timer, the customers least recently fired first
        self.latest: dict[str, dict[str, Watch]] = {}
        self._since_trim = 0

    def fired(self, customer_id: str, journey: str, w: Watch) -> None:
        """A timer of ``journey`` moved the customer's instance (``w``)."""
        latest = self.latest
        mine = latest.pop(customer_id, None)
        if mine is None:
            mine = {}
        mine[journey] = w
        latest[customer_id] = mine
        self._since_trim += 1
        if len(latest) > self.kept or self._since_trim >= _TRIM_EVERY:
            self._trim(w.fired_at)

    def _trim(self, now: float) -> None:
        """Forget the oldest entries: down to three quarters of :attr:`kept` when over it, and those older than
        :attr:`horizon`, in one pass. (A dict's first entry is found by scanning the slots its deletions left at
        the front: looking at it on every call, once a fired timer, took ~4,500 instructions an event in a
        replay, ``make instructions``.)"""
        self._since_trim = 0
        latest, oldest = self.latest, now - self.horizon
        over = len(latest) - self.kept * 3 // 4 if len(latest) > self.kept else 0
        gone: list[str] = []
        for cid, mine in latest.items():
            if over > 0:
                over -= 1
            elif _newest(mine) >= oldest:
                break
            gone.append(cid)
        for cid in gone:
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
    newest = 0.0
    for w in mine.values():
        if w.fired_at > newest:
            newest = w.fired_at
    return newest


def before(profile: Profile, timer: Timer) -> Before | None:
    """What the instance ``timer`` wakes was doing, taken before the engine fires it (None: no such instance)."""
    inst = profile.instances.get(timer.journey)
    if inst is None or inst.instance_id != timer.instance_id:
        return None
    return (inst.version, inst.step, inst.waiting, inst.entered_at, inst.since_ms)


def watch_after(listens: Listens, timer: Timer, was: Before, fired_at: float, grace: float) -> Watch | None:
    """The :class:`Watch` of a fired timer that moved the instance it woke (``was``: :func:`before`); None when
    no event could have changed what it decided."""
    version, step, waiting, entered, since_ms = was
    names = listens.ends_on.get((timer.journey, version))
    if names is None:
        return None  # a version no longer loaded
    wait_names = listens.waits_on.get((timer.journey, version, step), _NONE) if waiting == "wait_for" else _NONE
    if not names and not wait_names:
        return None
    since = entered + (since_ms or 0) / 1000.0
    due = timer.due
    return Watch(due, max(due, fired_at - grace), fired_at, entered, names, since, wait_names)


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
