"""Recent events a customer's instances may still need: the engine's memory for late arrivals.

Events of one person reach the engine under different ids and through different partitions, so they
can arrive in another order than they happened. To decide on event time rather than arrival order,
each profile keeps, for the allowed lateness, the events that a goal, ``exit_on`` or ``wait_for`` of
some journey listens to (``watched``), narrowed to the fields those matchers' conditions read. When an
instance starts or moves at an event time earlier than the customer's latest event (a late entry, a
late ``wait_for`` match, an instance brought over by an identity merge), it catches up with these.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import Any, Final

from cjo_stream.events import format_ts
from cjo_stream.journeys.model import Journey, Matcher
from cjo_stream.journeys.snapshot import SnapshotSpec, snapshot_spec
from cjo_stream.profile import Profile, Seen

#: Most recent events a profile keeps, whatever the lateness (a flood must not grow a profile).
MAX_RECENT: Final = 32


def _matchers(j: Journey) -> Iterator[Matcher]:
    if j.goal is not None:
        yield j.goal
    yield from j.exit_on
    for step in j.steps.values():
        for m, _ in step.ways:
            yield m


def watched_events(journeys: Iterable[Journey]) -> dict[str, SnapshotSpec]:
    """Per event name that some goal/exit/wait_for listens to: what to keep of such an event."""
    paths: dict[str, list[tuple[Any, ...]]] = {}
    for j in journeys:
        for m in _matchers(j):
            keys = paths.setdefault(m.event, [])
            if m.when is not None:
                keys.extend(k for root, k in m.when.paths if root == "event")
    return {name: snapshot_spec(p) for name, p in paths.items()}


def remember(p: Profile, ts: float, name: str, view: dict[str, Any], spec: SnapshotSpec, lateness: float) -> None:
    """Keep a watched event (call after it was applied) and forget what fell out of the allowed lateness.

    An event whose conditions read nothing of it is kept as its bare time in its ``events`` entry (9
    bytes); one whose fields a condition reads, as a :class:`Seen` with those fields.
    """
    horizon = p.last_seen - lateness
    if spec.tree == {}:
        entry = p.events.get(name)
        if entry is None:  # an internal event (stage_changed) is not counted: its times still are kept
            entry = p.events[name] = [0, int(ts)]
        times = entry[2:]
        bisect.insort_right(times, ts)
        entry[2:] = times[-MAX_RECENT:]
    else:
        data = spec.take(view)
        bisect.insort_right(p.recent, Seen(ts, name, data or None), key=lambda s: s.ts)
        del p.recent[:-MAX_RECENT]
    for entry in p.events.values():
        if len(entry) > 2 and entry[2] < horizon:
            entry[2:] = [t for t in entry[2:] if t >= horizon]
    if p.recent and p.recent[0].ts < horizon:
        p.recent[:] = [s for s in p.recent if s.ts >= horizon]


def recent_events(p: Profile) -> list[Seen]:
    """Every remembered event of the profile, ascending by time."""
    out = [Seen(t, name) for name, entry in p.events.items() if len(entry) > 2 for t in entry[2:]]
    if not out:
        return list(p.recent)
    out.extend(p.recent)
    out.sort(key=lambda s: s.ts)
    return out


def seen_view(s: Seen) -> dict[str, Any]:
    """The ``event`` mapping a matcher's condition sees for a remembered event."""
    view: dict[str, Any] = dict(s.data) if s.data else {}
    view["event"] = view["name"] = s.name
    view["timestamp"] = format_ts(s.ts)
    view.setdefault("properties", {})
    view.setdefault("context", {})
    return view


def since(recent: list[Seen], t: float) -> list[Seen]:
    """Remembered events at or after ``t`` (ties count as after: the order of equal times is unknown)."""
    return recent[bisect.bisect_left(recent, t, key=lambda s: s.ts):]
