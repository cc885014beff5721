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
NO_HEADERS = _NO_HEADERS  # for callers building items (add_many)


def _nothing() -> asyncio.Future[None]:
    """A completed awaitable: one dropped unawaited (a caller cancelled at shutdown) warns of nothing, as a
    coroutine did ("coroutine '_nothing' was never awaited")."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


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
        #: Output topics with fewer partitions than the partition numbers records are added with (commands go
        #: to the customer's partition number), by their count: such a record goes to that number modulo the
        #: count. An operator may make a delivery topic with as many partitions as its adapter has replicas;
        #: one with fewer than CJO_PARTITIONS stopped the worker at its first command for a higher partition
        #: (aiokafka's "Unrecognized partition"), again at every restart. Set by the worker at start.
        self.narrow: dict[str, int] = {}
        # every batch sent to ``loop_topic`` is also given to ``loop_sink`` (partition, ack future, items)
        # right after the producer queued it, so the sink sees a partition's batches in offset order
        self.loop_topic = loop_topic if loop_sink is not None else None
        self.loop_sink = loop_sink

    def add(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int | None = None,
            headers: Sequence[Header] = _NO_HEADERS) -> None:
        # the default is the shared empty list, not ``()``: fill() hands a list to the batch builder as it
        # is, and a tuple cost a call to convert it for most records (journey events, commands)
        if partition is None:
            partition = self.partitioner(key) if key is not None else 0
        if topic in self.deferred:
            self._later[(topic, partition)][key] = value  # changelog records carry no headers
            return
        self._records[(topic, partition)].append((key, value, headers))
        self.count += 1

    def add_many(self, topic: str, partition: int, items: Sequence[Item]) -> None:
        """:meth:`add` of several records for one partition, in order: one call, one lookup (a Python call
        per record was ~2,000 of the ~5,000 instructions ``add`` costs; the worker writes ~3.7 records an
        event, most of them a decision's journey events and the batch's profile changelog records)."""
        if not items:
            return
        if topic in self.deferred:
            later = self._later[(topic, partition)]
            for key, value, _ in items:  # changelog records carry no headers
                later[key] = value
            return
        self._records[(topic, partition)].extend(items)
        self.count += len(items)

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
        narrow = self.narrow
        for (topic, partition), items in records.items():
            if not items:
                continue
            if narrow and topic in narrow:
                partition %= narrow[topic]
            loop = topic == self.loop_topic
            start = 0
            while True:
                batch = self.producer.create_batch()
                end = fill(batch, items, start)
                if end == start:
                    raise ValueError(f"a record for {topic} is larger than the producer's max batch size")
                # A closed batch is sent at once; an open one waits out the producer's linger_ms
                # (aiokafka keeps it open for more send() calls), which cost 5 ms per stage.
                batch.close()
                fut = await self.producer.send_batch(batch, topic, partition=partition)
                futures.append(fut)
                if loop:
                    self.loop_sink(partition, fut, items[start:end] if start or end < len(items) else items)  # type: ignore[misc]
                if end == len(items):
                    break
                start = end
        return asyncio.gather(*futures)


def fill(batch: Any, items: Sequence[Item], start: int = 0) -> int:
    """Append ``items[start:]`` to an aiokafka ``BatchBuilder`` until it is full; returns the index of the
    first record that did not fit (``len(items)``: all did).

    Calls the record-batch builder that ``BatchBuilder.append`` wraps directly when the batch has no
    serializers (ours never has: records are bytes): per record that skips two Python calls with
    keyword arguments, ~1 µs of the ~5 µs a record costs from ``add()`` to a built batch (timeit,
    aiokafka 0.14). ``tests/runtime/test_outbox_fill.py`` checks the batch reads back the same
    either way; an aiokafka without these attributes gets the public ``append``.
    """
    n = len(items)
    builder = getattr(batch, "_builder", None)
    offset = getattr(batch, "_relative_offset", None)
    if builder is None or offset is None or batch._key_serializer is not None \
            or batch._value_serializer is not None or batch.closed():
        for i in range(start, n):
            key, value, headers = items[i]
            if batch.append(key=key, value=value, timestamp=None, headers=_header_list(headers)) is None:
                return i
        return n
    append = builder.append
    i = start
    try:
        for key, value, headers in (items[start:] if start else items):
            # the builder takes a list (a typed argument) and copies it into the batch at once: a list
            # is passed as it is, and records without headers share one empty list
            if append(offset, None, key, value,
                      headers if headers.__class__ is list else _header_list(headers)) is None:
                return i
            offset += 1
            i += 1
        return n
    finally:
        batch._relative_offset = offset  # the record count aiokafka reads (BatchBuilder.record_count)


def _header_list(headers: Sequence[Header]) -> list[Header]:
    return list(headers) if headers else _NO_HEADERS
