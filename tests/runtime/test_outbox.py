"""The Outbox against the real broker: record batches per partition, deferred changelog writes, loop sink."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cjo_stream.config import Settings
from cjo_stream.kafka.local_broker import LocalBroker
from cjo_stream.kafka.outbox import Outbox
from cjo_stream.kafka.partitioner import Partitioner
from cjo_stream.kafka.producer import make_producer
from cjo_stream.kafka.topics import ensure_topics
from tests.runtime.conftest import collect

pytestmark = pytest.mark.broker


async def test_deferred_topics_wait_for_send_deferred_and_keep_the_latest_value_per_key(broker: LocalBroker) -> None:
    s = Settings(bootstrap=broker.bootstrap, partitions=2)
    await ensure_topics(s, ["out", "log"])
    producer = make_producer(s)
    await producer.start()
    try:
        box = Outbox(producer, Partitioner(2), deferred=["log"])
        box.add("out", b"a", b"cmd-1", partition=0)
        box.add("log", b"a", b"v1", partition=0)
        box.add("log", b"a", b"v2", partition=0)
        box.add("log", b"b", b"v1", partition=1)
        box.add("log", b"b", None, partition=1)  # a delete after a write: only the tombstone is kept
        assert box.has_deferred()
        await (await box.send())
        got = await collect(broker.bootstrap, ["out", "log"], lambda rs: len(rs) >= 1, timeout=5)
        assert [(r.topic, r.value) for r in got] == [("out", b"cmd-1")]  # changelog not written yet
        await (await box.send_deferred())
        assert not box.has_deferred()
        got = await collect(broker.bootstrap, ["log"], lambda rs: len(rs) >= 2, timeout=10)
        assert sorted((r.partition, r.key, r.value) for r in got) == [(0, b"a", b"v2"), (1, b"b", None)]
    finally:
        await producer.stop()


async def test_loop_sink_sees_each_batch_with_the_offset_the_broker_gave_it(broker: LocalBroker) -> None:
    s = Settings(bootstrap=broker.bootstrap, partitions=2)
    await ensure_topics(s, ["internal", "other"])
    producer = make_producer(s)
    await producer.start()
    seen: list[tuple[int, Any, list[Any]]] = []
    try:
        box = Outbox(producer, Partitioner(2), "internal", lambda p, fut, items: seen.append((p, fut, items)))
        for round_ in range(2):
            for i in range(3):
                box.add("internal", b"k", f"{round_}-{i}".encode(), partition=1)
            box.add("other", b"k", b"x", partition=1)
            await (await box.send())
        assert [p for p, _, _ in seen] == [1, 1]  # only the loop topic, one batch per send
        metas = await asyncio.gather(*(fut for _, fut, _ in seen))
        assert [m.offset for m in metas] == [0, 3]
        assert [v for _, _, items in seen for _, v, _ in items] == [b"0-0", b"0-1", b"0-2", b"1-0", b"1-1", b"1-2"]
    finally:
        await producer.stop()
