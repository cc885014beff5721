"""A guarded fetch returns while a newly assigned partition's position cannot be known (broker gone).

aiokafka's ``position`` waits for it without end; the guard asked it on every fetch after an assignment,
so a loop that stops between fetches (the adapter's, the analytics service's) never saw its stop flag:
SIGTERM went unanswered after the broker died during a rebalance.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from cjo_stream.config import Settings
from cjo_stream.kafka.guard import POSITION_WAIT, FetchGuard
from cjo_stream.kafka.local_broker import LocalBroker
from cjo_stream.kafka.topics import ensure_topics

pytestmark = pytest.mark.broker


async def test_a_fetch_after_an_assignment_returns_when_the_broker_cannot_say_where_to_start() -> None:
    with LocalBroker() as broker:
        s = Settings(bootstrap=broker.bootstrap, partitions=2)
        await ensure_topics(s, ["positions"])
        c = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest", group_id=None,
                             request_timeout_ms=40_000)
        await c.start()
        try:
            broker.stop()
            tps = [TopicPartition("positions", p) for p in range(2)]
            c.assign(tps)  # the start offsets are asked of a broker that is no longer there
            guard = FetchGuard(c, s, "test")
            for _ in range(2):  # (a stopping loop checks its flag between these)
                got = await asyncio.wait_for(guard.getmany(timeout_ms=100), POSITION_WAIT + 15)
                assert got == {}
            assert not guard._next  # noqa: SLF001 - nothing handed out: no start remembered
        finally:
            await asyncio.wait_for(c.stop(), 30)
