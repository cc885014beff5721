"""Against the broker: a partition of ``cjo.journey-events`` whose last offset holds a transaction's commit marker
(no record to hand out) is read to its end, so the analytics service does not wait for it.

Judged by the records handed out, such a partition was behind for good, and every fetch of the other partitions
was held ``MAX_HOLD`` (10 s) with a warning (:meth:`AnalyticsService.behind` judges by the consumer's position).
Workers write no transactions today; a producer with ``transactional.id`` writing to the topic (a Kafka Streams
app, a later exactly-once worker) would end partitions so. The local broker cannot run transactions, so the
marker is written as a broker writes it (tests/runtime/clients.control_batch).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from cjo_stream import metrics
from cjo_stream.analytics.records import encode as encode_journey_event
from cjo_stream.analytics.service import AnalyticsService
from cjo_stream.config import Settings
from cjo_stream.journeys.loader import Topology
from cjo_stream.kafka.local_broker import LocalBroker
from cjo_stream.kafka.topics import ensure_topics
from tests.analytics.test_merge_lanes import AFTER, BEFORE, J
from tests.conftest import journey
from tests.runtime.clients import control_batch, raw_produce

pytestmark = pytest.mark.broker


def unwaited() -> float:
    return metrics.REGISTRY.get_sample_value("cjo_analytics_lanes_unwaited_total") or 0.0


def test_a_partition_ending_in_a_commit_marker_is_not_waited_for() -> None:
    with LocalBroker() as b:
        asyncio.run(scenario(b.bootstrap))


async def scenario(bootstrap: str) -> None:
    s = Settings(bootstrap=bootstrap, store="memory")
    t = s.journey_events_topic
    p0, p1 = TopicPartition(t, 0), TopicPartition(t, 1)
    await ensure_topics(s, [t])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for e in BEFORE:
            await producer.send_and_wait(t, encode_journey_event(e), partition=0)
        marker = await raw_produce(bootstrap, t, 0, control_batch())  # partition 0 ends in the marker
        assert marker == len(BEFORE)
        svc = AnalyticsService(s, Topology([journey(J)]))
        await svc.start()
        run = asyncio.create_task(svc.run())
        before = unwaited()
        try:
            deadline = time.monotonic() + 30
            while svc.fold.applied < len(BEFORE):
                assert time.monotonic() < deadline, f"folded {svc.fold.applied}"
                await asyncio.sleep(0.05)
            while await svc.behind():  # the marker is stepped over: both partitions read to their ends
                assert time.monotonic() < deadline, f"behind: {await svc.behind()}"
                await asyncio.sleep(0.05)
            assert svc.consumer is not None and await svc.consumer.position(p0) == marker + 1
            # the other partition's records fold at once: nothing waits for partition 0
            t0 = time.monotonic()
            for e in AFTER:
                await producer.send_and_wait(t, encode_journey_event(e), partition=1)
            while svc.fold.applied < len(BEFORE) + len(AFTER):
                assert time.monotonic() - t0 < 5, f"held: folded {svc.fold.applied} (partition 0 waited for)"
                await asyncio.sleep(0.05)
            assert p1 not in svc.lanes.holding() and unwaited() == before
        finally:
            svc.stop()
            await run
            await svc.close()
    finally:
        await producer.stop()
