"""Operator skip requests: the only way a consumer gets past a record batch it cannot decode.

A request names exactly one batch: topic, partition and the first offset the consumer reported as
unreadable. Requests are records on the compacted topic ``<app_id>.skips`` (key ``topic/partition/offset``,
a JSON value saying when, why and from where), written by ``cjo-stream skip`` and read by every worker as
a global table. So whichever worker owns the partition — now, after a rebalance or after a restart —
applies it when it reaches that offset, and a request for an offset nobody is stuck at changes nothing.
This is the deliberate step Kafka's own tools make an operator take (``kafka-consumer-groups
--reset-offsets``), done through the running workers instead: a group with live members cannot have
its offsets reset from outside, and the members would not notice if it could.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import msgspec

from cjo_stream.config import Settings


class SkipRequest(msgspec.Struct, frozen=True):
    topic: str
    partition: int
    offset: int
    requested_at: float
    reason: str = ""
    host: str = ""


def skip_key(topic: str, partition: int, offset: int) -> bytes:
    return f"{topic}/{partition}/{offset}".encode()


class SkipRequests:
    """The requests read so far from ``<app_id>.skips`` (a global table)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, int, int], SkipRequest] = {}

    def apply(self, value: bytes | None, key: bytes | None) -> None:
        """One record of the skips topic (a tombstone withdraws a request)."""
        if value is None:
            if key:
                parts = key.decode(errors="replace").rsplit("/", 2)
                if len(parts) == 3 and parts[1].isdigit() and parts[2].lstrip("-").isdigit():
                    self._by_key.pop((parts[0], int(parts[1]), int(parts[2])), None)
            return
        try:
            req = msgspec.json.decode(value, type=SkipRequest)
        except msgspec.DecodeError:
            return  # not ours to act on: a skip must be exact
        self._by_key[(req.topic, req.partition, req.offset)] = req

    def add(self, req: SkipRequest) -> None:
        self._by_key[(req.topic, req.partition, req.offset)] = req

    def get(self, topic: str, partition: int, offset: int) -> SkipRequest | None:
        return self._by_key.get((topic, partition, offset))

    def __len__(self) -> int:
        return len(self._by_key)


async def request_skip(settings: Settings, topic: str, partition: int, offset: int, reason: str = "") -> SkipRequest:
    """Write a skip request to ``<app_id>.skips``; returns it once the broker acknowledged it."""
    from cjo_stream.kafka.producer import make_producer
    from cjo_stream.kafka.topics import ensure_topics

    req = SkipRequest(topic, partition, offset, time.time(), reason, socket.gethostname())
    await ensure_topics(settings, [settings.skips_topic], compacted=[settings.skips_topic])
    producer = make_producer(settings, linger_ms=0)
    await producer.start()
    try:
        await producer.send_and_wait(settings.skips_topic, msgspec.json.encode(req),
                                     key=skip_key(topic, partition, offset))
    finally:
        await producer.stop()
    return req


async def load_skips(settings: Settings) -> SkipRequests:
    """Every request on ``<app_id>.skips`` now (for processes that do not follow it as a global table)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from cjo_stream.kafka.reading import read_to_end

    out = SkipRequests()
    c = AIOKafkaConsumer(**settings.kafka_kwargs(), enable_auto_commit=False, group_id=None)
    await c.start()
    try:
        await c.topics()
        tps = [TopicPartition(settings.skips_topic, p) for p in sorted(c.partitions_for_topic(settings.skips_topic)
                                                                        or ())]
        if tps:
            c.assign(tps)
            await c.seek_to_beginning(*tps)
            def apply(recs: list[Any]) -> None:
                for r in recs:
                    out.apply(r.value, r.key)

            await read_to_end(c, tps, apply)
    finally:
        await c.stop()
    return out
