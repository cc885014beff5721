"""Values the pure engine returns: timers to store and analytics transitions (msgspec structs; the bundle of
outputs, :class:`~cjo_stream.engine.result.Result`, is a compiled class of its own)."""

from __future__ import annotations

from typing import Literal

import msgspec

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

