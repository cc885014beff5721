"""What live workers sent against what ``cjo-stream replay`` sends over the same events (the restart drill).

Pure: commands and events in, differences out. Commands are matched by ``delivery_id`` (stable across
replays: the journey, version, customer, instance and step parking, :mod:`cjo_stream.engine.core`), so a
difference is a decision one side made and the other did not. Each is described by its journey step, whether
a timer made it (``triggered_by`` ``timer:...``: a reminder after a wait) and the customer's events near its
decision, with where each was written, to tell a timer that fired before the event that would have changed it
from anything else.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Cmd = Mapping[str, Any]


@dataclass(frozen=True)
class Written:
    """One input event as the topic holds it: where, when it happened (event time) and when it was written."""

    partition: int
    offset: int
    written: float  # the record's timestamp (producer time), epoch seconds
    at: float  # its event time, epoch seconds
    name: str  # the event name (track event, or the type: identify, page ...)
    ids: tuple[str, ...]  # userId, anonymousId (those present)


@dataclass
class Diff:
    """Live against replay: distinct ids each side sent, the ids on one side only, ids live sent more than once."""

    live: int
    replay: int
    live_only: list[Cmd] = field(default_factory=list)
    replay_only: list[Cmd] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)  # delivery_id -> times live sent it
    #: duplicated ids whose copies differ (a redone decision that came out otherwise; at-least-once redoes it the same)
    unequal: list[str] = field(default_factory=list)

    @property
    def matched(self) -> int:
        return self.live - len(self.live_only)


def compare(live: Iterable[Cmd], replay: Iterable[Cmd]) -> Diff:
    """Match by ``delivery_id``; a live command repeated counts once in ``live`` and appears in ``duplicates``
    (and in ``unequal`` when a copy differs from the first)."""
    seen: Counter[str] = Counter()
    first: dict[str, Cmd] = {}
    unequal: list[str] = []
    for c in live:
        did = c["delivery_id"]
        seen[did] += 1
        if first.setdefault(did, c) != c and did not in unequal:
            unequal.append(did)
    want: dict[str, Cmd] = {}
    for c in replay:
        want.setdefault(c["delivery_id"], c)
    return Diff(live=len(first), replay=len(want),
                live_only=[c for d, c in first.items() if d not in want],
                replay_only=[c for d, c in want.items() if d not in first],
                duplicates={d: n for d, n in seen.items() if n > 1}, unequal=unequal)


def after_wait(cmd: Cmd) -> bool:
    """Whether a timer decided it (a wait's timeout or end), not an event."""
    return str(cmd.get("triggered_by", "")).startswith("timer:")


def kinds(diff: Diff) -> Counter[tuple[str, str, str]]:
    """Differences by (side, ``journey/step``, what decided it: ``timer`` or ``event``)."""
    out: Counter[tuple[str, str, str]] = Counter()
    for side, cmds in (("live only", diff.live_only), ("replay only", diff.replay_only)):
        for c in cmds:
            out[(side, f"{c['journey']}/{c['step']}", "timer" if after_wait(c) else "event")] += 1
    return out


def near(cmd: Cmd, decided: float, events: Sequence[Written], before: float = 30.0,
         after: float = 5.0) -> list[Written]:
    """The command's customer's events that happened from ``before`` seconds before its decision (epoch
    seconds) to ``after`` seconds after it, in event-time order."""
    who = cmd["customer_id"]
    return sorted((e for e in events if who in e.ids and decided - before <= e.at <= decided + after),
                  key=lambda e: (e.at, e.partition, e.offset))


def nearest(t: float, marks: Mapping[str, float]) -> tuple[str, float] | None:
    """The incident (a kill, a stop, a restart) closest in time to ``t``, and ``t`` minus its time."""
    if not marks:
        return None
    name = min(marks, key=lambda m: abs(t - marks[m]))
    return name, t - marks[name]
