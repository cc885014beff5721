"""The record of delivered ``delivery_id``s: a compacted Kafka topic ``cjo.adapter.<channel>.sent``.

Why a compacted topic rather than a table or a cache:

- it lives on the same broker as the commands, so an adapter needs no extra infrastructure and the
  record has the broker's durability and replication;
- it survives a crash and a replay: a restarted adapter, a second adapter taking over partitions, or
  a new consumer group re-reading ``cjo.delivery.<channel>`` from offset 0 all see every id sent before;
- compaction keeps one record per ``delivery_id`` (the key), so it never holds more than the ids, and an
  operator can deliberately allow a resend by producing a tombstone (null value) for an id.

Each adapter reads the whole topic into memory when it starts and catches up again whenever it is
assigned partitions (so ids written by an adapter that just handed over its partitions are known
before anything is sent). Memory is roughly 100 bytes per id. Values are :class:`SentRecord` JSON: when,
and the provider's message id — no addresses or content.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from cjo_stream.config import Settings
from cjo_stream.kafka.topics import ensure_topics


class SentRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    at: str
    provider_message_id: str | None = None


_encode = msgspec.json.Encoder().encode


def sent_topic(adapter: str) -> str:
    return f"cjo.adapter.{adapter}.sent"


class SentLog:
    def __init__(self, settings: Settings, topic: str, producer: AIOKafkaProducer) -> None:
        self.settings = settings
        self.topic = topic
        self.producer = producer
        self.ids: dict[str, str | None] = {}  # delivery_id -> provider message id
        self._reader: AIOKafkaConsumer | None = None
        self._tps: list[TopicPartition] = []
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        await ensure_topics(self.settings, [self.topic], compacted=[self.topic])
        self._reader = AIOKafkaConsumer(**self.settings.kafka_kwargs(), enable_auto_commit=False,
                                        auto_offset_reset="earliest", max_poll_records=20_000)
        await self._reader.start()
        parts = self._reader.partitions_for_topic(self.topic)
        for _ in range(50):
            if parts:
                break
            await self._reader.topics()  # refresh metadata; a just-created topic may take a moment
            parts = self._reader.partitions_for_topic(self.topic)
            if not parts:
                await asyncio.sleep(0.1)
        if not parts:
            raise RuntimeError(f"topic {self.topic} has no partitions visible to this client; check the broker")
        self._tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        self._reader.assign(self._tps)
        await self._reader.seek_to_beginning(*self._tps)
        await self.catch_up()

    async def catch_up(self) -> int:
        """Read the topic to its current end; returns how many records were applied."""
        reader = self._reader
        if reader is None:
            return 0
        async with self._lock:
            n = 0
            end = await reader.end_offsets(self._tps)
            while True:
                # Tansu reports a partition's end as "last batch base offset + 1", which can be short; so
                # read until every position is past the reported end *and* a fetch comes back empty.
                data = await reader.getmany(*self._tps, timeout_ms=200)
                for recs in data.values():
                    self._apply(recs)
                    n += len(recs)
                if not data and all([await reader.position(tp) >= end[tp] for tp in self._tps]):
                    return n

    def _apply(self, recs: list[Any]) -> None:
        for r in recs:
            if r.key is None:
                continue
            key = r.key.decode()
            if r.value is None:
                self.ids.pop(key, None)
            else:
                try:
                    self.ids[key] = msgspec.json.decode(r.value, type=SentRecord).provider_message_id
                except msgspec.DecodeError:
                    self.ids[key] = None  # an unreadable value still means "sent"

    def __contains__(self, delivery_id: str) -> bool:
        return delivery_id in self.ids

    def __len__(self) -> int:
        return len(self.ids)

    async def record(self, delivery_id: str, at: str, provider_message_id: str | None) -> asyncio.Future[Any]:
        """Mark ``delivery_id`` sent (in memory now) and enqueue its record; await the returned future
        for the broker's acknowledgement before committing the input offset."""
        self.ids[delivery_id] = provider_message_id
        value = _encode(SentRecord(at=at, provider_message_id=provider_message_id))
        return await self.producer.send(self.topic, value, key=delivery_id.encode())

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.stop()
