"""Values the pure engine returns: timers to store, analytics transitions, and the bundle of outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import msgspec

from cjo_stream.commands import DeliveryCommand, SkipRecord
from cjo_stream.profile import Profile

TimerKind = Literal["wait", "wait_for", "quiet", "throttle"]


class Timer(msgspec.Struct, array_like=True, frozen=True):
    """A wake-up the caller must store and hand back to :meth:`Engine.fire` at or after ``due``.

    ``seq`` ties it to one parking of the instance; a timer whose ``seq`` no longer matches is stale
    and firing it is a no-op, so the caller never has to find and delete cancelled timers.
    """

    customer_id: str
    journey: str
    instance_id: str
    seq: int
    due: float
    kind: TimerKind

    @property
    def key(self) -> str:
        """Unique per instance parking: ``customer/journey/instance/seq``."""
        return f"{self.customer_id}/{self.journey}/{self.instance_id}/{self.seq}"


TransitionKind = Literal[
    "entered", "holdout", "global_control", "step", "variant", "sent", "skipped", "deferred", "converted", "exited",
    "ended", "expired", "merged",
]


class Transition(msgspec.Struct, frozen=True, gc=False):
    """One analytics fact (funnel counters, metrics and journey events are folded from these); no customer data.

    ``at`` is the event time the engine decided it at (``run.now``: the event's timestamp, a timer's due
    time), ``instance`` and ``version`` the journey instance it belongs to, ``delivery_id`` the send it
    is about (``sent``, ``skipped``). A struct, not a frozen dataclass: the engine creates several per
    event and a frozen dataclass's ``__init__`` costs ~3x as much (``object.__setattr__`` per field).
    """

    journey: str
    kind: TransitionKind
    step: str | None = None
    variant: str | None = None
    channel: str | None = None
    reason: str | None = None
    at: float = 0.0
    instance: str = ""
    version: int = 0
    delivery_id: str | None = None


@dataclass(slots=True, init=False)
class Result:
    """What one engine call decided. The caller stores ``timers`` and may delete ``cancelled`` ones
    (parkings the instance left before they were due; firing them would change nothing).

    One is made per event, most of which decide nothing: ``__init__`` is written out (list literals)
    because the generated one calls a default factory per list, which was a measurable part of an event
    that matches nothing.
    """

    profile: Profile
    commands: list[DeliveryCommand] = field(default_factory=list)
    skips: list[SkipRecord] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    cancelled: list[Timer] = field(default_factory=list)
    # lifecycle stage moves (from, to), in order: from "" is a new customer placed in the first stage,
    # to "" a profile merged into another (metrics keep a per-stage count from these)
    stage_moves: list[tuple[str, str]] = field(default_factory=list)
    stage_at: float = 0.0  # when the stage moves happened (the call's decision time; analytics buckets them)
    late: bool = False  # the event happened before the customer's latest event
    too_late: bool = False  # ... by more than the allowed lateness: it started no journey

    def __init__(self, profile: Profile, commands: list[DeliveryCommand] | None = None,
                 skips: list[SkipRecord] | None = None, timers: list[Timer] | None = None,
                 transitions: list[Transition] | None = None, cancelled: list[Timer] | None = None,
                 stage_moves: list[tuple[str, str]] | None = None, stage_at: float = 0.0, late: bool = False,
                 too_late: bool = False) -> None:
        self.profile = profile
        self.commands = [] if commands is None else commands
        self.skips = [] if skips is None else skips
        self.timers = [] if timers is None else timers
        self.transitions = [] if transitions is None else transitions
        self.cancelled = [] if cancelled is None else cancelled
        self.stage_moves = [] if stage_moves is None else stage_moves
        self.stage_at = stage_at
        self.late = late
        self.too_late = too_late
