"""Input partitions another worker holds and no longer reads: a crashed worker, until its session times out.

A worker's timers fire by the wall clock while it keeps up. When another worker of the group is killed, its
input partitions stay assigned to it until its session times out (``CJO_SESSION_TIMEOUT_MS``) and the group
rebalances; events keep arriving there, unread. Timers fired meanwhile decided before events that happened
before they were due (an SRE drill: a wait timed out though its event had come). Each worker therefore
watches the group's committed offsets of the input partitions it does not hold: one behind its end whose
committed offset has not moved for :data:`STALL_AFTER` seconds (live workers commit every 0.1 s) is stalled,
and timers due after it was first seen so wait until it is read past the end it had while stalled (taken over,
its backlog read by the new owner; a partition this worker takes over is its own stage 1's, behind or not).

A partition stalled for good (stuck at a batch no worker can decode, waiting for an operator's skip) must not
stop every timer of the deployment: after :data:`HOLD_MAX` seconds the timers go on by the wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, TypeVar

#: seconds a behind partition's committed offset must stay put to count as stalled
STALL_AFTER = 1.0
#: seconds timers wait for a stalled partition at most (a session timeout and a rebalance, with room)
HOLD_MAX = 30.0

P = TypeVar("P")


class Stalls(Generic[P]):
    """The committed offsets seen of partitions held elsewhere, and since when each has not moved while behind."""

    def __init__(self, after: float = STALL_AFTER, hold_max: float = HOLD_MAX) -> None:
        self.after = after
        self.hold_max = hold_max
        # behind its end: the committed offset last seen, since when it was seen unmoved, and, once stalled, the
        # end it must be read to before the timers go on (its backlog: taken over, the new owner reads it first)
        self._unmoved: dict[P, tuple[int, float, int | None]] = {}

    def observe(self, now: float, committed: Mapping[P, int | None], ends: Mapping[P, int]) -> None:
        """One look at the partitions held elsewhere (``ends``) and the group's committed offsets of them."""
        for p in [p for p in self._unmoved if p not in ends]:
            del self._unmoved[p]  # held here now (read by this worker's stage 1, behind or not), or gone
        for p, end in ends.items():
            c = committed.get(p)
            seen = self._unmoved.get(p)
            if c is None or (c >= end and (seen is None or seen[2] is None or c >= seen[2])):
                self._unmoved.pop(p, None)  # read to its end (or not known)
                continue
            if seen is None:
                self._unmoved[p] = (c, now, None)
            elif seen[2] is not None:  # stalled: held until read past the end it had while stalled
                self._unmoved[p] = (c, seen[1], end if c == seen[0] else seen[2])
                if c != seen[0] and c >= seen[2]:
                    del self._unmoved[p]
            elif c != seen[0]:
                self._unmoved[p] = (c, now, None)  # moving: a live worker, behind or not
            elif now - seen[1] >= self.after:
                self._unmoved[p] = (c, seen[1], end)

    def since(self, now: float) -> float | None:
        """The earliest moment a stalled partition last moved (timers due after it wait), or None: none is
        stalled, or the earliest has held timers back for :attr:`hold_max` seconds."""
        t = min((t0 for _, t0, mark in self._unmoved.values() if mark is not None), default=None)
        if t is None or now - t > self.hold_max:
            return None
        return t

    def stalled(self, now: float) -> list[P]:
        """The partitions stalled now (for the log)."""
        return [p for p, (_, _, mark) in self._unmoved.items() if mark is not None]
