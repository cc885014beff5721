"""Reading assigned partitions to their end: state restore, global tables, tools."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


async def read_to_end(c: AIOKafkaConsumer, tps: list[TopicPartition], apply: Callable[[list[Any]], None]) -> None:
    """Consume assigned partitions until caught up.

    The reported end offset is not enough on its own: the local Tansu broker reports the end of a
    partition as "base offset of the last record batch + 1", which is short when the last batch held
    several records. So we read until every position is past the reported end *and* a fetch comes
    back empty, which is correct on both Tansu and Kafka.
    """
    end = await c.end_offsets(tps)
    while True:
        data = await c.getmany(*tps, timeout_ms=300)
        for recs in data.values():
            apply(recs)
        if not data and all([await c.position(tp) >= end[tp] for tp in tps]):
            return
