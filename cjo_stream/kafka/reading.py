"""Reading assigned partitions to their end: state restore, global tables, tools."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from cjo_stream.kafka.guard import FetchGuard


async def read_to_end(c: AIOKafkaConsumer, tps: list[TopicPartition], apply: Callable[[list[Any]], None],
                      guard: FetchGuard | None = None) -> None:
    """Consume assigned partitions until caught up.

    The reported end offset is not enough on its own: the local Tansu broker reports the end of a
    partition as "base offset of the last record batch + 1", which is short when the last batch held
    several records. So we read until every position is past the reported end *and* a fetch comes
    back empty, which is correct on both Tansu and Kafka.

    With a ``guard``, a partition stopped at a record batch that cannot be decoded counts as done (it
    cannot get further); the caller finds it in ``guard.stuck``.
    """
    end = await c.end_offsets(tps)
    tps = [tp for tp in tps if end[tp] > 0]  # never written: nothing to read (no empty fetch to wait for)
    if not tps:
        return
    fetch = guard.getmany if guard is not None else c.getmany
    while True:
        data = await fetch(*tps, timeout_ms=300)
        for recs in data.values():
            apply(recs)
        if data:
            continue
        stuck = guard.stuck if guard is not None else {}
        if all([tp in stuck or await c.position(tp) >= end[tp] for tp in tps]):
            return


async def partitions_of(c: AIOKafkaConsumer, topic: str) -> list[int]:
    """The partitions of ``topic`` (sorted), waiting up to 5 s for a topic just created to show them in the
    client's metadata; RuntimeError if it shows none."""
    for _ in range(50):
        parts = c.partitions_for_topic(topic)
        if parts:
            return sorted(parts)
        await c.topics()  # refresh metadata
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no partitions visible to this client; check the broker")
