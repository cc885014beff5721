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

**Cost.** A look is one OffsetFetch request for every partition held elsewhere (:func:`committed_offsets`), and a
ListOffsets request only for the partitions whose committed offset has not moved since the last look, or which were
read to their end then (:meth:`Stalls.wanted`: idle, stalled, or read as fast as written); not for one behind its
end whose owner is reading it, nor for a start but of a partition never committed. The local broker (Tansu) lists
every record batch of a partition to answer ListOffsets: asking for the end and the start of every partition
held elsewhere twice a second cost it more the longer it ran (8 partitions: 4 % of a core at 2,000 batches a
partition, 30 % at 30,000, in a shared 2-core machine; docs/benchmarks.md, twenty-fourth session).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

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
        # behind its end (or not known to be at it): the committed offset last seen (None: never committed), since
        # when it has not moved, and, once stalled, the end it must be read to before the timers go on (its
        # backlog: taken over, the new owner reads it first)
        self._unmoved: dict[P, tuple[int | None, float, int | None]] = {}
        self._at_end: set[P] = set()  # found read to its end when its end was last asked for

    def wanted(self, committed: Mapping[P, int | None]) -> list[P]:
        """The partitions whose end the next :meth:`observe` needs: those whose committed offset has not moved since
        the last look, and those found read to their end at the last (idle, or read as fast as written). Not one
        whose committed offset moves while it is behind: an owner reads it, and asking for its end cost the local
        broker more the more record batches it held (see Cost above)."""
        out: list[P] = []
        for p, c in committed.items():
            seen = self._unmoved.get(p)
            if p in self._at_end or (seen is not None and seen[0] == c):
                out.append(p)
        return out

    def observe(self, now: float, committed: Mapping[P, int | None], ends: Mapping[P, int],
                starts: Mapping[P, int] | None = None) -> None:
        """One look at the partitions held elsewhere: ``committed``, the group's committed offset of each (None:
        never committed); ``ends``, the ends asked for (at least those :meth:`wanted` named); ``starts``, the start
        of those never committed (their owner reads them from there). A partition not in ``committed`` is held
        here now (read by this worker's stage 1, behind or not), or gone. One whose end was not asked for counts as
        behind: its committed offset moves, so it holds nothing back."""
        for p in [p for p in self._unmoved if p not in committed]:
            del self._unmoved[p]
        self._at_end.intersection_update(committed)
        for p, c in committed.items():
            seen = self._unmoved.get(p)
            if seen is not None and seen[2] is not None and c != seen[0]:
                # stalled, and moving now (taken over): held until read past the end it had while stalled
                if c is not None and c >= seen[2]:
                    del self._unmoved[p]
                else:
                    self._unmoved[p] = (c, seen[1], seen[2])
                continue
            end = ends.get(p)
            at = c if c is not None else (starts or {}).get(p)
            if end is not None and (at is None or (at >= end and (seen is None or seen[2] is None or at >= seen[2]))):
                self._unmoved.pop(p, None)  # read to its end (or not known)
                if at is not None:
                    self._at_end.add(p)
                continue
            self._at_end.discard(p)
            if seen is None or c != seen[0]:
                self._unmoved[p] = (c, now, None)  # moving: a live worker, behind or not
            elif end is None:
                continue  # (unmoved but not asked: the caller looks again)
            elif seen[2] is not None:
                self._unmoved[p] = (c, seen[1], end)  # stalled: to be read past its end as it is now
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


async def committed_offsets(consumer: Any, partitions: Sequence[Any]) -> dict[Any, int | None]:
    """The group's committed offset of each of ``partitions`` (None: never committed), in one OffsetFetch request
    (aiokafka's ``committed()`` sends one a partition: with many partitions held elsewhere, many twice a second)."""
    coordinator = getattr(consumer, "_coordinator", None)
    fetch = getattr(coordinator, "fetch_committed_offsets", None)
    if fetch is None:  # (not aiokafka's consumer as this code knows it: one request a partition)
        done = [await consumer.committed(tp) for tp in partitions]
        return dict(zip(partitions, done, strict=True))
    got = await fetch(list(partitions))
    out: dict[Any, int | None] = {}
    for tp in partitions:
        meta = got.get(tp)
        out[tp] = None if meta is None or meta.offset < 0 else int(meta.offset)
    return out
