"""Batched produce: records collected per (topic, partition) and sent as whole record batches.

Per-message ``producer.send()`` costs tens of microseconds in Python; building one record batch per
partition with ``create_batch``/``send_batch`` amortises that, which is how the runtime reaches its
throughput target (see the README's "Performance" section).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from cjo_stream.kafka.partitioner import Partitioner
from cjo_stream.kafka.records import Header, Item

LoopSink = Callable[[int, "asyncio.Future[Any]", list[Item]], None]


_NO_HEADERS: list[Header] = []  # never changed: aiokafka only reads it


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
        return await self._send({tp: [(k, v, _NO_HEADERS) for k, v in kv.items()] for tp, kv in later.items()})

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
            append = batch.append
            start = 0
            for i, (key, value, headers) in enumerate(items):
                # aiokafka's builder takes a list (a typed argument) and copies it into the batch at once:
                # a list is passed as it is, and records without headers share one empty list
                hl = headers if headers.__class__ is list else list(headers) if headers else _NO_HEADERS
                if append(key=key, value=value, timestamp=None, headers=hl) is None:
                    fut = await self.producer.send_batch(batch, topic, partition=partition)
                    futures.append(fut)
                    if loop:
                        self.loop_sink(partition, fut, items[start:i])  # type: ignore[misc]
                    start = i
                    batch = self.producer.create_batch()
                    append = batch.append
                    if append(key=key, value=value, timestamp=None, headers=hl) is None:
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
