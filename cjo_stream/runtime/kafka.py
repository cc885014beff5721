"""Kafka plumbing for the hot path: topic creation, key partitioning and batched produce.

Per-message ``producer.send()`` costs tens of microseconds in Python; building one record batch per
partition with ``create_batch``/``send_batch`` amortises that, which is how the runtime reaches its
throughput target (see the README's "Performance" section).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from cjo_stream.config import Settings
from cjo_stream.runtime.loopback import Header, Item

log = logging.getLogger(__name__)

LoopSink = Callable[[int, "asyncio.Future[Any]", list[Item]], None]


class Partitioner:
    """Java-compatible murmur2 key partitioning with a bounded cache (aiokafka's murmur2 is pure Python)."""

    def __init__(self, partitions: int, cache_size: int = 200_000) -> None:
        self.partitions = partitions
        self._cache: dict[bytes, int] = {}
        self._max = cache_size

    def __call__(self, key: bytes) -> int:
        p = self._cache.get(key)
        if p is None:
            p = (murmur2(key) & 0x7FFFFFFF) % self.partitions
            if len(self._cache) >= self._max:
                self._cache.clear()
            self._cache[key] = p
        return p


async def ensure_topics(settings: Settings, names: Iterable[str], compacted: Iterable[str] = (),
                        partitions: dict[str, int] | None = None) -> None:
    """Create missing topics (idempotent). Changelog-like topics are created compacted."""
    compacted = set(compacted)
    admin = AIOKafkaAdminClient(**settings.kafka_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = []
        for name in names:
            if name in existing:
                continue
            cfg = {"cleanup.policy": "compact"} if name in compacted else {}
            n = (partitions or {}).get(name, settings.partitions)
            new.append(NewTopic(name, num_partitions=n, replication_factor=settings.replication, topic_configs=cfg))
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
            for _ in range(50):  # metadata propagates asynchronously on some brokers
                if {t.name for t in new} <= set(await admin.list_topics()):
                    break
                await asyncio.sleep(0.1)
    finally:
        await admin.close()


def make_producer(settings: Settings, **extra: object) -> AIOKafkaProducer:
    kw = settings.kafka_kwargs()
    kw.update(linger_ms=5, max_batch_size=1024 * 1024, max_request_size=4 * 1024 * 1024, acks="all")
    kw.update(extra)
    return AIOKafkaProducer(**kw)


async def _nothing() -> None:
    return None


class Outbox:
    """Records to produce at the end of a batch, grouped by (topic, partition), sent as record batches.

    ``flush()`` returns once the broker has acknowledged every record, so the caller may then commit
    the input offsets (at-least-once with idempotent effects).

    Records for ``deferred`` topics (the state changelogs) are not sent with the batch: they are kept,
    latest value per key, until ``send_deferred()``, which the worker calls before it commits offsets —
    Kafka Streams' record cache in front of the changelog, flushed on commit. A customer touched by
    many batches between two commits is written once, and the broker gets a few changelog batches per
    commit interval instead of two per partition per batch.
    """

    def __init__(self, producer: AIOKafkaProducer, partitioner: Partitioner, loop_topic: str | None = None,
                 loop_sink: LoopSink | None = None, deferred: Iterable[str] = ()) -> None:
        self.producer = producer
        self.partitioner = partitioner
        self._records: dict[tuple[str, int], list[Item]] = defaultdict(list)
        self.count = 0
        self.deferred = frozenset(deferred)
        self._later: dict[tuple[str, int], dict[bytes | None, bytes | None]] = defaultdict(dict)
        # every batch sent to ``loop_topic`` is also given to ``loop_sink`` (partition, ack future, items)
        # right after the producer queued it, so the sink sees a partition's batches in offset order
        self.loop_topic = loop_topic if loop_sink is not None else None
        self.loop_sink = loop_sink

    def add(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int | None = None,
            headers: Sequence[Header] = ()) -> None:
        if partition is None:
            partition = self.partitioner(key) if key is not None else 0
        if topic in self.deferred:
            self._later[(topic, partition)][key] = value  # changelog records carry no headers
            return
        self._records[(topic, partition)].append((key, value, headers))
        self.count += 1

    def has_deferred(self) -> bool:
        return bool(self._later)

    async def send_deferred(self) -> Awaitable[Any]:
        """Hand the kept changelog records to the producer; the awaitable completes with the acks."""
        if not self._later:
            return _nothing()
        later, self._later = self._later, defaultdict(dict)
        return await self._send({tp: [(k, v, ()) for k, v in kv.items()] for tp, kv in later.items()})

    async def flush(self) -> None:
        """Send everything and wait until the broker acknowledged it."""
        await (await self.send())

    async def send(self) -> Awaitable[Any]:
        """Hand everything to the producer now; the returned awaitable completes with the broker's acks.

        Record batches are handed over in order, and the producer keeps one batch in flight per
        partition, so outputs of a later ``send`` never overtake those of an earlier one.
        """
        if not self._records:
            return _nothing()
        records, self._records = self._records, defaultdict(list)
        self.count = 0
        return await self._send(records)

    async def _send(self, records: dict[tuple[str, int], list[Item]]) -> Awaitable[Any]:
        futures = []
        for (topic, partition), items in records.items():
            loop = topic == self.loop_topic
            batch = self.producer.create_batch()
            start = 0
            for i, (key, value, headers) in enumerate(items):
                if batch.append(key=key, value=value, timestamp=None, headers=list(headers)) is None:
                    fut = await self.producer.send_batch(batch, topic, partition=partition)
                    futures.append(fut)
                    if loop:
                        self.loop_sink(partition, fut, items[start:i])  # type: ignore[misc]
                    start = i
                    batch = self.producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None, headers=list(headers)) is None:
                        raise ValueError(f"a record for {topic} is larger than the producer's max batch size")
            if batch.record_count():
                # A closed batch is sent at once; an open one waits out the producer's linger_ms
                # (aiokafka keeps it open for more send() calls), which cost 5 ms per stage.
                batch.close()
                fut = await self.producer.send_batch(batch, topic, partition=partition)
                futures.append(fut)
                if loop:
                    self.loop_sink(partition, fut, items[start:] if start else items)  # type: ignore[misc]
        return asyncio.gather(*futures)
