"""Events stage 1 decoded, kept for this process's own stage 2 so it does not decode them again.

Stage 1 checks and decodes every input record, then forwards its bytes unchanged to the internal topic.
When this process owns the target partition, the loopback hands those very bytes to stage 2, which used
to decode them a second time (~5 µs a record, about 4 % of a worker's CPU in a profile). Stage 2 now
takes the decoded event kept here for that very record value instead; a record that is not found (read
back from the broker after a restart, written by another worker, dropped on overflow) is decoded as
before. Each kept event is taken once: the engine may change the event it is given (a timestamp far in
the future is clamped).

Kept by the value's identity, not its bytes: the loopback hands stage 2 the same ``bytes`` object stage 1
forwarded, and keying by the bytes hashed every record's value (~300 bytes of SipHash, ~1,000
instructions an event, plus the compare on lookup). The entry holds the value, so no other live object
can have its ``id`` meanwhile; a record read back from the broker is another object and is decoded.

**At the limit, new events are not kept (the kept ones are not dropped).** Stage 2 takes them in the
order stage 1 kept them. In a backlog stage 1 runs up to the loopback's feed bound ahead (64 internal
batches, ~40,000 records with the default ``batch_max``): emptying the whole map when it filled dropped
every event before stage 2 reached it, so stage 2 decoded ~96 % of its events again on the bench input
(cProfile of the worker, 100,000 events). Keeping the oldest and refusing new ones until stage 2 takes
some serves ``limit`` of every lead's records. Entries that never come back (a partition given up, a
loopback overflow) are cleared by :meth:`start` when a whole ingest batch found no room freed.

**Stage 1 waits for room (2026-12-01).** Keeping the oldest still left most of a 40,000-record lead
undecoded: under the profiler stage 2 decoded 80,122 of ~96,000 events again. So the worker's stage 1 now
also waits, as it does for the loopback's feed bound, while the loopback holds records and this map has
no room for another fetch (:meth:`room`): its lead is what the map can serve (``limit``, ~23 MiB of
decoded events at ~1.4 KiB each), and stage 2 finds every event of its own partitions decoded. The wait
ends when stage 2 has taken the records handed over, so entries that never come back cannot hold
stage 1 for longer than the loopback takes to drain.
"""

from __future__ import annotations

from collections.abc import Container

from cjo_stream.events import Event


class Decoded:
    """Decoded events by the record value they came from, for partitions this process owns."""

    def __init__(self, owned: Container[int], limit: int = 16_384) -> None:
        self.owned = owned  # a live view of the partitions stage 2 holds here (the worker's own dict)
        self.limit = limit  # records that never reach stage 2 here (a partition given up) are dropped
        #: ``id(value) -> (value, event)``; stage 2's batch step pops it directly (:meth:`take` is the same)
        self.by_id: dict[int, tuple[bytes, Event]] = {}

    def start(self) -> None:
        """An ingest batch begins: still full since the last one filled it means stage 2 took nothing kept
        meanwhile, so what is held is not coming back (or not soon): start afresh."""
        if len(self.by_id) >= self.limit:
            self.by_id.clear()

    def room(self, records: int) -> bool:
        """Whether ``records`` more events (a fetch's worth) can be kept without refusing any."""
        return len(self.by_id) + records <= self.limit

    def keep(self, partition: int, value: bytes, event: Event) -> None:
        if partition not in self.owned:
            return
        by_id = self.by_id
        if len(by_id) < self.limit:  # full: stage 2 has older ones to take first
            by_id[id(value)] = (value, event)

    def take(self, value: bytes) -> Event | None:
        kept = self.by_id.pop(id(value), None)
        return kept[1] if kept is not None else None

    def __len__(self) -> int:
        return len(self.by_id)
