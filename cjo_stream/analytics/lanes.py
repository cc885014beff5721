"""The analytics service's input partitions folded merged in event-time order, across fetches.

An instance moved by an identity merge has its journey events on two partitions of ``cjo.journey-events``
(keyed by the customer id at the time): the anonymous id's before the merge, the known id's after. The fold
follows an instance's records in the order it gets them, so the second lane folded first counts a holdout
customer's conversion for treatment, keeps the instance waiting at its step before the merge and starts its
edges at the entry (tests/analytics/test_merge_lanes.py). A lagging partition (a backlog, a restart, a
broker slow on one partition) has its records come in a later fetch than the other lanes'.

So the service holds each partition's fetched records here, and folds the lanes merged by event time (each
partition's in its own order) only as far as every partition not yet read to its end still has records
held: a lane that runs empty while its partition has more waits for the next fetch. The service pauses a
partition whose held records pile up (:meth:`Lanes.holding`), so the lagging one is what the fetches bring,
and memory holds a few fetches. A partition read to its end (the consumer's position at its highwater, also
past a last transaction marker or records compacted away) holds nobody up (live, lanes are caught up and fold
as they come), nor does one stuck at a batch it cannot decode, and a partition that has held the others for
:data:`MAX_HOLD` seconds (a partition whose leader does not answer) is no longer waited for (the service
counts it: ``cjo_analytics_lanes_unwaited_total``).

The offset stored for a partition is that of its first record held (or past all it fetched): a restart reads
the held records again, so holding loses nothing.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Collection, Iterator
from typing import Generic, TypeVar

from cjo_stream.analytics.journey_event import JourneyEvent

#: seconds a partition that is behind but brings no records may hold the others' records back
MAX_HOLD = 10.0

P = TypeVar("P")  # a partition (aiokafka's TopicPartition in the service)


class Lanes(Generic[P]):
    """Each partition's fetched, not yet folded records, with their offsets."""

    def __init__(self) -> None:
        self._held: dict[P, deque[tuple[JourneyEvent, int]]] = {}
        self._end: dict[P, int] = {}  # past the last offset fetched (records, unreadable ones, skipped batches)
        self._touched: set[P] = set()  # partitions whose stored offset may have moved since :meth:`offsets`
        self._blocked_since: float | None = None
        self.released = 0  # times a partition was no longer waited for after MAX_HOLD

    def add(self, p: P, events: list[tuple[JourneyEvent, int]], end: int) -> None:
        """A fetch's records of ``p`` (decoded, with offsets) and the offset past all it fetched of ``p``."""
        if events:
            self._held.setdefault(p, deque()).extend(events)
        if end > self._end.get(p, -1):
            self._end[p] = end
        self._touched.add(p)

    def drop(self, ps: Collection[P]) -> None:
        """Partitions revoked or sought again: their held records are read again (by whoever gets them)."""
        for p in ps:
            self._held.pop(p, None)
            self._end.pop(p, None)
            self._touched.discard(p)

    def holding(self, more_than: int = 0) -> list[P]:
        """Partitions with more than ``more_than`` records held: they wait for the others, so their fetching can
        pause."""
        return [p for p, q in self._held.items() if len(q) > more_than]

    def take(self, behind: Collection[P], now: float) -> Iterator[JourneyEvent]:
        """The records that can be folded now, merged in event-time order (ties: each lane's order, then the
        lanes' in the order first added). ``behind``: partitions not read to their end (nor stuck); the merge
        stops where one of them has no record held."""
        held = self._held
        if any(not held.get(p) for p in behind):  # one of them has nothing held: its next records may come first
            if not self.holding():
                self._blocked_since = None
                return
            if self._blocked_since is None:
                self._blocked_since = now
            if now - self._blocked_since < MAX_HOLD:
                return
            self.released += 1
            behind = ()  # held too long for a partition that brings nothing: fold as fetched
        self._blocked_since = None
        lanes = [(p, q) for p, q in held.items() if q]
        self._touched.update(p for p, _ in lanes)
        if len(lanes) == 1:  # one lane (live, a fetch often brings one partition): its order is the merge's
            q = lanes[0][1]
            while q:
                yield q.popleft()[0]
            return
        heap = [(q[0][0].at, i) for i, (_, q) in enumerate(lanes)]
        heapq.heapify(heap)
        while heap:
            i = heap[0][1]
            p, q = lanes[i]
            yield q.popleft()[0]
            if q:
                heapq.heapreplace(heap, (q[0][0].at, i))
            else:
                heapq.heappop(heap)
                if p in behind:
                    return  # its next records are not fetched yet: they may come before the others' held

    def offsets(self) -> dict[P, int]:
        """Per partition touched since the last call: the offset to store (its first held record's, or past all
        it fetched)."""
        out: dict[P, int] = {}
        for p in self._touched:
            q = self._held.get(p)
            if q:
                out[p] = q[0][1]
            elif p in self._end:
                out[p] = self._end[p]
        self._touched.clear()
        return out
