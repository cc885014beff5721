"""A changelog restore reads to the partition's end even when the broker answers a fetch with nothing.

A busy local broker answered a fetch in the middle of a partition with no data; the restore took that as
the end and left a seventh of a partition's profiles behind (make bench, scan section). Here a fetch in
the middle returns nothing, as it did, and every record is restored all the same.

And it hands the records on in bounded chunks, in offset order, says when each partition is read, and
does not fetch from a partition with nothing to read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from cjo_stream.config import Settings
from cjo_stream.kafka import restore as restore_mod
from cjo_stream.kafka.batches import BatchReader
from cjo_stream.kafka.local_broker import LocalBroker
from cjo_stream.kafka.topics import ensure_topics

TOPIC = "restore-ends.changelog"


@pytest.fixture(scope="module")
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as b:
        s = Settings(bootstrap=b.bootstrap)
        asyncio.run(ensure_topics(s, [TOPIC], compacted=[TOPIC], partitions={TOPIC: 2}))
        asyncio.run(seed(b.bootstrap, 3000))  # all on partition 0; partition 1 stays empty
        yield b


async def seed(bootstrap: str, n: int) -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=4096)
    await p.start()
    try:
        futs = [await p.send(TOPIC, b"v" * 200, key=f"k{i:05d}".encode(), partition=0) for i in range(n)]
        await asyncio.gather(*futs)
    finally:
        await p.stop()


def test_a_fetch_answered_with_nothing_mid_partition_does_not_end_the_restore(monkeypatch: Any,
                                                                              broker: LocalBroker) -> None:
    real = BatchReader.fetch
    calls = {"n": 0}

    async def flaky(self: BatchReader, tp: TopicPartition, offset: int) -> tuple[bytes, int]:
        data, highwater = await real(self, tp, offset)
        calls["n"] += 1
        if calls["n"] in (2, 3):  # twice in a row, after the first fetch: nothing, with the true high watermark
            return b"", highwater
        return data, highwater

    monkeypatch.setattr(BatchReader, "fetch", flaky)
    s = Settings(bootstrap=broker.bootstrap)
    got: dict[bytes, bytes | None] = {}
    tp = TopicPartition(TOPIC, 0)
    out = asyncio.run(restore_mod.restore(s, {tp: 0}, lambda _tp, ch: got.update(ch), max_bytes=64 * 1024))
    assert calls["n"] > 3  # the restore asked again after the empty answers
    assert len(got) == 3000 and out.ends[tp] == 3000


def test_records_come_in_bounded_chunks_in_order_and_each_partition_says_when_it_is_read(
        monkeypatch: Any, broker: LocalBroker) -> None:
    """Not one chunk per fetch: a whole fetch of well-compressed records was ~200,000 of them, held as one
    dict and written as one RocksDB write batch (make bench, "Adapter sent-record at scale")."""
    real = BatchReader.fetch
    fetched: list[int] = []

    async def counted(self: BatchReader, tp: TopicPartition, offset: int) -> tuple[bytes, int]:
        fetched.append(tp.partition)
        return await real(self, tp, offset)

    monkeypatch.setattr(BatchReader, "fetch", counted)
    chunks: list[list[bytes]] = []
    done: list[TopicPartition] = []
    full, empty = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
    out = asyncio.run(restore_mod.restore(Settings(bootstrap=broker.bootstrap), {full: 0, empty: 0},
                                          lambda _tp, ch: chunks.append(list(ch)), chunk=500, done=done.append))
    keys = [k for c in chunks for k in c]
    assert keys == [f"k{i:05d}".encode() for i in range(3000)]  # every record once, in offset order
    assert len(chunks) >= 6 and max(map(len, chunks)) < 500 + 100  # a chunk ends with the batch that fills it
    assert sorted(done) == [full, empty] and out.ends == {full: 3000, empty: 0}
    assert 0 in fetched and 1 not in fetched  # the empty partition was not fetched (a fetch waits for data)
