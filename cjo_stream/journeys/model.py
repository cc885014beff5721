"""Compiled journeys: what the engine runs. Built by :mod:`cjo_stream.journeys.loader`, never by hand."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from cjo_stream.journeys.expressions import Expression
from cjo_stream.journeys.schedule import Schedule
from cjo_stream.journeys.snapshot import KEEP_ALL, SnapshotSpec
from cjo_stream.journeys.templates import Template

END: Final = "end"
StepKind = Literal["wait", "wait_until", "wait_for", "branch", "split", "send", "enter", "update"]
#: The name of the synthetic event a scheduled entry starts an instance with.
SCHEDULED: Final = "scheduled"


@dataclass(frozen=True, slots=True)
class Throttle:
    """At most ``max`` sends per ``per`` seconds; a window opens with its first send."""

    max: int
    per: float


@dataclass(frozen=True, slots=True)
class Matcher:
    event: str
    when: Expression | None = None


@dataclass(frozen=True, slots=True)
class SendAction:
    channel: str
    content: tuple[tuple[str, Template], ...]
    to: Template | None = None
    expires_in: float | None = None
    throttle: Throttle | None = None
    #: a message the customer asked for: consent, quiet hours, caps and global control do not apply (nor counts it)
    transactional: bool = False
    #: a subscription topic (policies.yaml ``topics:``): the customer's consent to it is needed too
    topic: str | None = None


#: A value an ``update`` step writes: a template (rendered at decision time), a literal, or None (remove the trait).
TraitValue = Template | bool | int | float | None


@dataclass(frozen=True, slots=True)
class UpdateAction:
    """``update: {traits: ..., increment: ..., consent: ...}``: the traits to write, in the file's order, the number
    traits to add to (a trait not set yet counts as 0), and the channels and topics whose consent it withdraws."""

    traits: tuple[tuple[str, TraitValue], ...]
    increment: tuple[tuple[str, int | float], ...] = ()
    consent: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BestTime:
    """``wait_until: {best_time: channel, default, within}`` (engine.besttime)."""

    channel: str
    default: tuple[int, int]
    within: float


@dataclass(frozen=True, slots=True)
class SplitArm:
    variant: str
    upper: float  # cumulative share in [0, 1): a bucket below it (and above the previous arm's) picks this arm
    next: str


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    kind: StepKind
    next: str  # where the step continues (the following step or END); for wait_for: its first way's step
    seconds: float = 0.0  # wait duration / wait_for timeout
    time_of_day: tuple[int, int] | None = None
    days: int = 0  # a wait_until's days of the week (bit 0 Monday .. bit 6 Sunday); 0: any day
    #: a wait_until's time window closes at this local time (minutes after midnight; -1: no window): from its
    #: time of day up to here, on one of its days, the step goes on at once (Customer.io's Time Window)
    window_end: int = -1
    best_time: BestTime | None = None  # a wait_until for the customer's best hour instead of a fixed time
    #: a wait_until for a moment the data names (``{time: profile.traits.appointment_at, before: 1d}``): the
    #: expression, the seconds added to it (negative: before), and where an instance goes whose data names no time;
    #: ``time_of_day`` then is its optional ``at`` (None: the moment itself)
    time: Expression | None = None
    shift: float = 0.0
    on_missing: str = END
    on_timeout: str = END
    #: a wait_for's ways on by an event, in order: (matcher, step); one for ``{event, ...}`` + ``on_event``,
    #: one a path for ``paths``. The first whose event and ``when`` an event matches takes the instance on.
    ways: tuple[tuple[Matcher, str], ...] = ()
    #: a wait_for until this condition on the profile holds (no ``ways``): tested as the wait begins and after each
    #: event of the customer; it goes on by ``next`` when it holds, by ``on_timeout`` when it never did
    condition: Expression | None = None
    #: a condition that can come true with no event (it reads the time or a catalog) is also tested this often
    #: while the instance waits, in seconds (0: only at events): a quiet customer goes on within that long
    recheck: float = 0.0
    branch: tuple[tuple[Expression | None, str], ...] = ()
    split: tuple[SplitArm, ...] = ()
    send: SendAction | None = None
    enter: str | None = None  # the journey a hand-over step enters
    update: UpdateAction | None = None  # the traits an update step writes

    @property
    def targets(self) -> tuple[str, ...]:
        """Every step this one can lead to."""
        if self.kind == "branch":
            return tuple(t for _, t in self.branch) + (self.next,)
        if self.kind == "split":
            return tuple(a.next for a in self.split)
        if self.kind == "wait_until" and self.time is not None:
            return (self.next, self.on_missing)
        if self.kind == "wait_for":
            if self.condition is not None:
                return (self.next, self.on_timeout)
            return tuple(t for _, t in self.ways) + (self.on_timeout,)
        return (self.next,)

    @property
    def waits(self) -> bool:
        return self.kind in ("wait", "wait_until", "wait_for")


@dataclass(frozen=True, slots=True)
class Handover:
    """An ``enter:`` step, for the checks across journeys (unknown target, a cycle that waits too little)."""

    step: str
    target: str
    line: int
    waited: float  # the least waiting from the entry to this step (0: the same decision; inf: only on an event)


@dataclass(frozen=True)
class Journey:
    id: str
    version: int
    entry: Matcher
    steps: dict[str, Step]
    first: str
    description: str = ""
    re_entry: Literal["once", "always", "after"] = "once"
    re_entry_after: float = 0.0
    holdout: float = 0.0  # percent
    goal: Matcher | None = None
    exit_on: tuple[Matcher, ...] = ()
    #: where each of ``exit_on`` stands in the file's list, when ``exit_when`` items are among them (:func:`exit_place`)
    exit_on_at: tuple[int, ...] = ()
    #: ``exit_on: [{condition}]`` items: (their place in the list, the condition on the profile), tested after each
    #: event and as a timer wakes an instance; one that holds ends it ``exited``
    exit_when: tuple[tuple[int, Expression], ...] = ()
    max_duration: float = 30 * 86400.0
    source: str = ""
    channels: frozenset[str] = field(default_factory=frozenset)
    snapshot: SnapshotSpec = KEEP_ALL  # what an instance keeps of its entry event
    schedule: Schedule | None = None  # a scheduled journey: entry.event is SCHEDULED
    throttle: Throttle | None = None
    handovers: tuple[Handover, ...] = ()
    # the steps at which a parked instance still needs its entry snapshot: that step or one it can lead to
    # reads ``event.*`` or hands over; None: every step (a journey not built by the loader)
    keeps_event: frozenset[str] | None = None
    #: seconds after the entry during which the goal converts (``goal: {within: 3d}``); later it ends nothing
    goal_within: float = math.inf
    #: ``status: paused``: no entry, and every send an instance reaches waits (deferred ``journey_paused``)
    paused: bool = False
    #: ``status: closed``: no entry; instances go on and send as a live journey's do (a journey drained before
    #: its file is removed)
    closed: bool = False
    #: ``timezone:``: the zone its waits, time windows, schedule and calendar functions read instead of each
    #: customer's (None: the customer's); quiet hours and best send times stay the customer's
    timezone: ZoneInfo | None = None
    #: the topology's catalogs (journeys.catalogs), which conditions and templates read as ``catalogs``: held
    #: by each journey so that every engine built of them (worker, simulate, replay) sees the same
    catalogs: Mapping[str, Mapping[Any, Mapping[str, Any]]] = field(default_factory=dict, compare=False, repr=False)


def status_of(j: Journey) -> str:
    """What ``j``'s file says of it as ``status``: ``live``, ``paused`` or ``closed``."""
    return "paused" if j.paused else "closed" if j.closed else "live"


def exit_place(j: Journey, k: int) -> int:
    """The place in the file's ``exit_on`` list of ``j.exit_on[k]`` (its YAML path ``("exit_on", place)``)."""
    return j.exit_on_at[k] if j.exit_on_at else k


def until_first_wait(j: Journey) -> list[Step]:
    """The steps an instance may run in the call that enters it: from the first step to (and with) each first
    wait on every path, each once (what it can decide before anything else happens)."""
    out: list[Step] = []
    todo, seen = [j.first], set()
    while todo:
        sid = todo.pop()
        if sid == END or sid in seen:
            continue
        seen.add(sid)
        step = j.steps[sid]
        out.append(step)
        if not step.waits or step.window_end >= 0:  # (a time window goes on at once inside it)
            todo.extend(step.targets)
    return out
