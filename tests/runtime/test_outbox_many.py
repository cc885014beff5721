"""Outbox.add_many: the same records, in the same order, as one add per record."""

from __future__ import annotations

from typing import Any, cast

from cjo_stream.kafka.outbox import NO_HEADERS, Outbox
from cjo_stream.kafka.partitioner import Partitioner


def _outbox() -> Outbox:
    return Outbox(cast(Any, None), Partitioner(4), deferred=("changelog",))


def test_add_many_queues_what_adds_one_by_one_would() -> None:
    one, many = _outbox(), _outbox()
    items = [(b"k1", b"v1", NO_HEADERS), (b"k2", b"v2", [("h", b"x")]), (b"k1", b"v3", NO_HEADERS)]
    for key, value, headers in items:
        one.add("events", key, value, partition=2, headers=headers)
    many.add("events", b"k0", b"v0", partition=2)
    many.add_many("events", 2, items)
    many.add_many("events", 3, [])
    assert many._records[("events", 2)] == [(b"k0", b"v0", NO_HEADERS), *one._records[("events", 2)]]
    assert ("events", 3) not in many._records
    assert many.count == one.count + 1


def test_add_many_keeps_the_latest_value_per_key_of_a_deferred_topic() -> None:
    one, many = _outbox(), _outbox()
    items = [(b"a", b"1", NO_HEADERS), (b"b", b"2", NO_HEADERS), (b"a", None, NO_HEADERS)]
    for key, value, _ in items:
        one.add("changelog", key, value, partition=1)
    many.add_many("changelog", 1, items)
    assert list(many._later[("changelog", 1)].items()) == list(one._later[("changelog", 1)].items()) == [
        (b"a", None), (b"b", b"2")]
    assert not many._records and many.count == 0
