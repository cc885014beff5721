"""Values the pure engine returns: timers to store (a msgspec struct: stored as the workers' timer records).

Analytics transitions (:mod:`cjo_stream.engine.transition`) and the bundle of outputs
(:mod:`cjo_stream.engine.result`) are classes compiled by mypyc, in modules of their own (mypyc cannot
take msgspec structs): the compiled engine, simulator and fold read their fields directly.
"""

from __future__ import annotations

from typing import Literal

import msgspec

#: "paused": a send held while its journey is paused, tried again every ``PAUSED_RECHECK`` seconds
TimerKind = Literal["wait", "wait_for", "quiet", "throttle", "paused"]


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
