"""Seed topics directly for the benchmarks: changelogs, identity links, an adapter's sent-record.

Each waiting customer is made by the real engine (identify, then ``cart_item_added`` → the
abandoned-cart journey parks in ``wait_for`` with a timer), so sizes and timer records are what a live
worker writes. Only the due times are rewritten, to spread them over a window the benchmark chooses.
Links and sent ids are written as the worker and the adapters write them (same keys, values and
partitions), in whole record batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec
import orjson

from cjo_stream.engine import Engine
from cjo_stream.events import decode_event
from cjo_stream.journeys.loader import Topology
from cjo_stream.profile import new_profile
from cjo_stream.runtime.stored import encode_stored
from cjo_stream.runtime.timers import encode_timer, storage_key


def anonymous_id(i: int) -> str:
    """A Segment-style anonymous id (uuid v4 text), distinct for each ``i``."""
    return f"{i:08x}-3f1c-4a9e-b7d2-{(i * 2654435761) & 0xFFFFFFFFFFFF:012x}"


def produce_fast(bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes, int | None]],
                 batch_records: int | None = None) -> int:
    """Produce ``(key, value, partition)`` records (``None``: Kafka's murmur2 of the key) — set-up only.

    Through librdkafka (``confluent-kafka``, installed with the test extras ``make bench`` uses): its C
    murmur2 partitioner is the one Kafka's Java client and our :class:`Partitioner` use, and aiokafka's
    pure-Python murmur2 cost 38 µs a key (3 minutes for 5 M links) — set-up, not the measurement.
    Records go in record batches of up to 1 MB (~1,000-2,000 sent ids), or ``batch_records`` each (a
    live adapter's sent-record: ~16 a batch at 1,200 commands/s, measured).
    """
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                  "linger.ms": 5 if batch_records else 50, "queue.buffering.max.messages": 1_000_000,
                  "batch.num.messages": batch_records or 100_000, "compression.type": "lz4", "log_level": 0})
    n = 0
    failed: dict[str, int] = {}

    def report(err: Any, _msg: Any) -> None:  # librdkafka drops a record it could not deliver: say so
        if err is not None:
            failed[str(err)] = failed.get(str(err), 0) + 1

    for key, value, part in records:
        while True:
            try:
                if part is None:
                    p.produce(topic, value, key, on_delivery=report)
                else:
                    p.produce(topic, value, key, partition=part, on_delivery=report)
                break
            except BufferError:
                p.poll(0.05)
        n += 1
        if n % 10_000 == 0:
            p.poll(0)  # serve delivery reports as we go
    if p.flush(300):
        raise RuntimeError(f"seeding {topic}: records left unsent")
    if failed:
        raise RuntimeError(f"seeding {topic}: {sum(failed.values()):,} of {n:,} records not delivered: {failed}")
    return n


def links(n: int) -> Iterator[tuple[bytes, bytes, int | None]]:
    """``n`` identity links as stage 2 stores them: anonymous id -> customer, on the id's partition."""
    for i in range(n):
        yield anonymous_id(i).encode(), f"u-bench-{i:08d}".encode(), None


def sent_ids(n: int, partitions: int) -> Iterator[tuple[bytes, bytes, int | None]]:
    """``n`` sent-record entries as an adapter writes them, spread over the command partitions."""
    value = b'{"at":"2026-11-30T00:00:00.000Z","provider_message_id":"bench"}'
    for i in range(n):
        yield f"{(i * 2654435761) & 0xFFFFFFFFFFFF:012x}{i:012x}".encode(), value, i % partitions


def waiting_customers(topology: Topology, n: int, due: Callable[[int], float],
                      now: float | None = None) -> Iterator[tuple[bytes, bytes, bytes, bytes]]:
    """Yield ``(profile key, stored profile, timer key, timer)`` for ``n`` customers ``bench-c<i>``."""
    engine = Engine(topology.journeys, topology.policies, stages=topology.stages)
    now = time.time() if now is None else now
    for i in range(n):
        cid = f"bench-c{i}"
        p = new_profile(cid)
        engine.process(p, decode_event(orjson.dumps({
            "messageId": f"seed-i-{i}", "type": "identify", "userId": cid, "timestamp": "2026-11-22T10:00:00Z",
            "traits": {"email": f"{cid}@example.com", "first_name": "Ann", "vip": i % 3 == 0},
            "context": {"channel": "web", "timezone": "Europe/Berlin"}})), now)
        res = engine.process(p, decode_event(orjson.dumps({
            "messageId": f"seed-c-{i}", "type": "track", "event": "cart_item_added", "userId": cid,
            "timestamp": "2026-11-22T10:01:00Z",
            "properties": {"cart_value": 45.0 + i % 50, "product_name": "Trail Tent", "product_id": "sku-1001"},
            "context": {"channel": "web"}})), now)
        if not res.timers:
            raise RuntimeError("the abandoned_cart journey did not park: the benchmark needs the example journeys")
        t = msgspec.structs.replace(res.timers[0], due=due(i))
        inst = p.instances[t.journey]
        inst.due = t.due
        yield cid.encode(), encode_stored(-1, p), storage_key(t), encode_timer(t)
