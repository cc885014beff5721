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
    "entered", "holdout", "step", "variant", "sent", "skipped", "deferred", "converted", "exited", "ended", "expired",
    "merged",
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


@dataclass(slots=True)
class Result:
    """What one engine call decided. The caller stores ``timers`` and may delete ``cancelled`` ones
    (parkings the instance left before they were due; firing them would change nothing)."""

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
