"""A changelog restore reads to the partition's end even when the broker answers a fetch with nothing.

A busy local broker answered a fetch in the middle of a partition with no data; the restore took that as
the end and left a seventh of a partition's profiles behind (make bench, scan section). Here a fetch in
the middle returns nothing, as it did, and every record is restored all the same.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition

from cjo_stream.config import Settings
from cjo_stream.kafka import restore as restore_mod
from cjo_stream.kafka.batches import BatchReader
from cjo_stream.kafka.topics import ensure_topics
from cjo_stream.runtime.broker import LocalBroker

TOPIC = "restore-ends.changelog"


async def seed(bootstrap: str, n: int) -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=4096)
    await p.start()
    try:
        futs = [await p.send(TOPIC, b"v" * 200, key=f"k{i:05d}".encode(), partition=0) for i in range(n)]
        await asyncio.gather(*futs)
    finally:
        await p.stop()


def test_a_fetch_answered_with_nothing_mid_partition_does_not_end_the_restore(monkeypatch: Any) -> None:
    real = BatchReader.fetch
    calls = {"n": 0}

    async def flaky(self: BatchReader, tp: TopicPartition, offset: int) -> tuple[bytes, int]:
        data, highwater = await real(self, tp, offset)
        calls["n"] += 1
        if calls["n"] in (2, 3):  # twice in a row, after the first fetch: nothing, with the true high watermark
            return b"", highwater
        return data, highwater

    monkeypatch.setattr(BatchReader, "fetch", flaky)
    with LocalBroker() as b:
        s = Settings(bootstrap=b.bootstrap)
        asyncio.run(ensure_topics(s, [TOPIC], compacted=[TOPIC], partitions={TOPIC: 1}))
        asyncio.run(seed(b.bootstrap, 3000))
        got: dict[bytes, bytes | None] = {}
        tp = TopicPartition(TOPIC, 0)
        out = asyncio.run(restore_mod.restore(s, {tp: 0}, lambda _tp, ch: got.update(ch), max_bytes=64 * 1024))
    assert calls["n"] > 3  # the restore asked again after the empty answers
    assert len(got) == 3000 and out.ends[tp] == 3000
