"""Loopback: internal-topic records this process produced go straight to its own stage 2 once acked.

Why: an event used to cross the broker twice (input topic -> internal topic -> decision). The second
crossing is a fetch round trip of its own (on the local Tansu broker a fetch is held for the whole
``fetch_max_wait_ms``, and each fetch of a partition with new data lists every record batch the
partition holds, so its cost grows as the broker fills). When the worker that resolved a customer's
identity also owns that customer's partition — always with one worker, 1/N of events with N — the
records it wrote are already in memory.

Why it is still exact: a record is handed over only after the broker acknowledged it, with the offset
the broker gave it, and only when it is the very next offset stage 2 expects for that partition. The
internal topic stays the source of truth: anything not contiguous (records another worker or the state
API wrote in between, a batch whose ack came back out of order, partitions not yet read once) is left
to the stage-2 consumer, which delivers every offset exactly as before, and records the loopback
already applied are dropped from its deliveries by offset. Commits, applied-offset marks and replay
after a crash are unchanged.

While a partition is fed by the loopback its consumer is paused ("following"): a fetch that finds new
records costs the broker a lookup even if we discard the result (on Tansu a listing of every batch the
partition holds), and that cost, not the worker, was what grew the latency during a run. The consumer
is resumed (from the next expected offset) as soon as the loopback sees a gap — an acknowledged batch
that does not continue where stage 2 stands means someone else wrote in between — and for partitions
the loopback has fed nothing for a moment, so records other writers add are read within about
``idle_after`` seconds even when this worker writes nothing more there.

This module is the bookkeeping only (no I/O), so its rules are unit-tested without a broker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

import msgspec

from cjo_stream.kafka.records import Header, Item


class LoopRecord(msgspec.Struct, gc=False):
    """An internal-topic record as stage 2 reads it (the fields an aiokafka ``ConsumerRecord`` has).

    A struct, made in C: the class with ``__slots__`` it was cost a Python ``__init__`` per record handed
    over (most of the records stage 2 applies). No cycle can run through it (bytes, an int, headers), so
    the garbage collector need not track it.
    """

    key: bytes | None
    value: bytes | None
    offset: int
    headers: Sequence[Header]


class _Offset(Protocol):
    @property
    def offset(self) -> int: ...


R = TypeVar("R", bound=_Offset)


class Loopback:
    """Per owned partition: the next offset stage 2 expects, and acknowledged batches waiting for it."""

    def __init__(self, max_waiting: int = 32, idle_after: float = 0.1) -> None:
        self.next: dict[int, int] = {}
        self._waiting: dict[int, dict[int, Sequence[Item]]] = {}
        self.max_waiting = max_waiting
        self.idle_after = idle_after
        self.following: dict[int, float] = {}  # partition -> when the loopback last fed it

    def forget(self, partition: int) -> None:
        """Partition assigned anew or given up: its next offset is unknown until the consumer reads it."""
        self.next.pop(partition, None)
        self._waiting.pop(partition, None)
        self.following.pop(partition, None)

    def fed(self, partition: int, now: float) -> bool:
        """The loopback applied records of ``partition``; True if its consumer should now be paused."""
        new = partition not in self.following
        self.following[partition] = now
        return new

    def unfollow(self, partition: int) -> bool:
        """Hand ``partition`` back to its consumer; True if it was paused (resume it at ``next``)."""
        return self.following.pop(partition, None) is not None

    def idle(self, now: float) -> list[int]:
        """Paused partitions the loopback has not fed for ``idle_after`` seconds (to resume)."""
        return [p for p, t in self.following.items() if now - t >= self.idle_after]

    def fetched(self, partition: int, records: Sequence[R]) -> Sequence[R]:
        """Records the stage-2 consumer delivered, minus those already applied through the loopback."""
        if not records:
            return records
        nxt = self.next.get(partition)
        if nxt is not None and records[0].offset < nxt:
            records = [r for r in records if r.offset >= nxt]
            if not records:
                return records
        self.next[partition] = records[-1].offset + 1
        return records

    def offer(self, partition: int, base_offset: int, items: Sequence[Item]) -> bool:
        """An acknowledged batch of ``items`` (key, value, headers) at ``base_offset``..+len-1.

        Returns True when it does not continue any known position: records written by someone else
        (or an offer that was dropped) lie in between, so the consumer must read the partition.
        """
        nxt = self.next.get(partition)
        if nxt is not None and base_offset < nxt:
            return False  # the consumer got there first
        waiting = self._waiting.setdefault(partition, {})
        waiting[base_offset] = items
        if len(waiting) > self.max_waiting:
            del waiting[min(waiting)]  # the consumer will deliver it
        if nxt is None:
            return True
        ends = {b + len(v) for b, v in waiting.items()}
        return base_offset != nxt and base_offset not in ends

    def take(self, partition: int) -> list[LoopRecord]:
        """Waiting records that continue exactly where stage 2 stands; advances the next offset."""
        waiting = self._waiting.get(partition)
        nxt = self.next.get(partition)
        if not waiting or nxt is None:
            return []
        for base in [b for b in waiting if b < nxt]:
            del waiting[base]
        out: list[LoopRecord] = []
        while nxt in waiting:
            items = waiting.pop(nxt)
            out.extend([LoopRecord(k, v, o, h) for o, (k, v, h) in enumerate(items, nxt)])
            nxt += len(items)
        if out:
            self.next[partition] = nxt
        return out
