"""What the stall watch asks the broker (runtime/worker.py ``_stalls_loop``, runtime/stalls.py): one OffsetFetch a
look for the partitions held elsewhere, and ListOffsets only for those whose owner is not reading them.

Measured before (docs/benchmarks.md, twenty-fourth session): every look asked the end and the start of every
partition held elsewhere, and the local broker lists a partition's record batches to answer each, so the watch
cost it more the longer it ran (8 partitions: 4 % of a core at 2,000 batches a partition, 30 % at 30,000).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from cjo_stream.runtime.stalls import Stalls
from cjo_stream.runtime.worker import StreamWorker

INPUT, RECEIPTS = "in", "rc"


class _Group:
    """A worker's stage-1 consumer: it holds partitions 0-3 of both topics; another worker holds 4-7."""

    def __init__(self) -> None:
        self.mine = {TopicPartition(t, p) for t in (INPUT, RECEIPTS) for p in range(4)}
        self.others = [TopicPartition(t, p) for t in (INPUT, RECEIPTS) for p in range(4, 8)]
        self.idle = TopicPartition(INPUT, 7)  # read to its end, nothing new
        self.stopped: TopicPartition | None = None  # its owner stops reading it (set by a test)
        self.offsets = {tp: 100 for tp in self.others}
        self.ends = {tp: 105 for tp in self.others}
        self.ends[self.idle] = 100
        self.looks = 0
        self.offset_fetches = 0
        self.ends_asked: list[set[TopicPartition]] = []
        self.starts_asked: list[set[TopicPartition]] = []
        self._coordinator = self

    def step(self) -> None:
        """A look's worth of time: the other worker reads and commits its busy partitions, more events arrive."""
        self.looks += 1
        for tp in self.others:
            if tp != self.idle:
                self.ends[tp] += 10
                if tp != self.stopped:
                    self.offsets[tp] += 10

    def assignment(self) -> set[TopicPartition]:
        return self.mine

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(8))

    async def committed(self, tp: TopicPartition) -> int:  # aiokafka: one OffsetFetch request each
        self.offset_fetches += 1
        return self.offsets[tp]

    async def fetch_committed_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, OffsetAndMetadata]:
        self.offset_fetches += 1
        return {tp: OffsetAndMetadata(self.offsets[tp], "") for tp in tps}

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        self.ends_asked.append(set(tps))
        return {tp: self.ends[tp] for tp in tps}

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        self.starts_asked.append(set(tps))
        return {tp: 0 for tp in tps}


async def _watch(group: _Group, stalls: Stalls[TopicPartition], looks: int, pause: float = 0.0) -> Any:
    joined = asyncio.Event()
    joined.set()
    worker = SimpleNamespace(ingest_consumer=group, s=SimpleNamespace(input_topic=INPUT, receipts_topic=RECEIPTS),
                             _running=True, ingest_rebalancing=False, ingest_joined=joined, stalls=stalls,
                             timers_held_since=None)
    worker._say_stalls = lambda now, since: setattr(worker, "timers_held_since", since)
    real_sleep = asyncio.sleep

    async def look_again(_: float) -> None:  # the loop's half second, shortened
        await real_sleep(pause)
        group.step()
        if group.looks > looks:
            worker._running = False

    asyncio.sleep = look_again  # type: ignore[assignment]
    try:
        await StreamWorker._stalls_loop(cast(StreamWorker, worker))
    finally:
        asyncio.sleep = real_sleep
    return worker


async def test_partitions_being_read_are_not_asked_for_their_ends() -> None:
    group = _Group()
    await _watch(group, Stalls(), looks=6)
    busy = set(group.others) - {group.idle}
    asked = set().union(*group.ends_asked)
    assert not asked & busy  # committed offsets moving: an owner reads them, their ends do not matter
    assert group.idle in asked  # not moving: whether it is behind is asked (it is not)
    assert group.starts_asked == []  # every partition has a committed offset: its start is not needed
    assert group.offset_fetches == group.looks  # one OffsetFetch a look for the 8 partitions, not 8


async def test_a_partition_no_longer_read_is_seen_stalled_and_holds_timers() -> None:
    group = _Group()
    group.stopped = TopicPartition(RECEIPTS, 5)  # its owner killed: the committed offset stays, events arrive
    worker = await _watch(group, Stalls(after=0.1), looks=12, pause=0.02)
    assert worker.stalls.stalled(0.0) == [group.stopped]
    assert worker.timers_held_since is not None
    asked = set().union(*group.ends_asked)
    assert asked & set(group.others) == {group.idle, group.stopped}
