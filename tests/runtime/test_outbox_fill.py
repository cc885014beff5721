"""The outbox fills aiokafka record batches through the builder ``BatchBuilder.append`` wraps (no broker):
the batch must read back exactly as the public ``append`` writes it, and split where it is full."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.record.default_records import DefaultRecordBatch

from cjo_stream.kafka.outbox import fill
from cjo_stream.kafka.records import Item

ITEMS: list[Item] = [(b"u-1", b"v" * 40, [("k", b"e")]), (None, b"no key", ()), (b"u-2", None, []),
                     (b"u-3", b"x", (("k", b"a"), ("ids", b"\x00\x01")))]


def read(batch: Any) -> list[tuple[int, bytes | None, bytes | None, list[tuple[str, bytes]]]]:
    return [(r.offset, r.key, r.value, list(r.headers)) for r in DefaultRecordBatch(bytes(batch._build()))]


@pytest.mark.parametrize("compression", [None, "zstd"])
async def test_fill_writes_what_the_public_append_writes(compression: str | None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", compression_type=compression)  # never started
    ours, theirs = producer.create_batch(), producer.create_batch()
    assert getattr(ours, "_builder", None) is not None  # the direct path is the one taken with this aiokafka
    assert fill(ours, ITEMS) == len(ITEMS)
    for key, value, headers in ITEMS:
        theirs.append(key=key, value=value, timestamp=None, headers=list(headers))
    assert ours.record_count() == theirs.record_count() == len(ITEMS)
    assert read(ours) == read(theirs) == [(i, k, v, list(h)) for i, (k, v, h) in enumerate(ITEMS)]


async def test_fill_stops_where_the_batch_is_full_and_the_next_batch_continues() -> None:
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", max_batch_size=1024)
    items: list[Item] = [(b"k%d" % i, bytes(100), ()) for i in range(30)]
    first = producer.create_batch()
    end = fill(first, items)
    assert 0 < end < len(items) and first.record_count() == end
    second = producer.create_batch()
    assert fill(second, items, end) > end
    assert [k for _, k, _, _ in read(first) + read(second)] == [k for k, _, _ in items[:second.record_count() + end]]
