"""The loopback's rules (pure) and, against the real broker, that it stays exact when others write too."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from cjo_stream.kafka.partitioner import Partitioner
from cjo_stream.runtime.loopback import Loopback
from tests.runtime.conftest import collect, keyed, produce
from tests.runtime.test_e2e import DELIVERY, by_id, scenario, simulate


@dataclass
class Rec:
    offset: int


def items(n: int, tag: str = "v") -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]:
    return [(b"k", f"{tag}{i}".encode(), []) for i in range(n)]


def test_nothing_is_handed_over_before_the_consumer_has_read_the_partition_once() -> None:
    lb = Loopback()
    assert lb.offer(0, 100, items(3)) is True  # position unknown: the consumer must read
    assert lb.take(0) == []
    assert [r.offset for r in lb.fetched(0, [Rec(98), Rec(99)])] == [98, 99]
    got = lb.take(0)  # the waiting batch continues exactly where the consumer stopped
    assert [(r.offset, r.value) for r in got] == [(100, b"v0"), (101, b"v1"), (102, b"v2")]
    assert lb.next[0] == 103


def test_batches_chain_by_offset_and_a_hole_is_left_to_the_consumer() -> None:
    lb = Loopback()
    lb.fetched(0, [Rec(9)])
    assert lb.offer(0, 10, items(2)) is False
    assert lb.offer(0, 15, items(1)) is True  # 12..14 were written by someone else
    assert [r.offset for r in lb.take(0)] == [10, 11]
    assert lb.take(0) == []  # 15 waits for the hole
    assert [r.offset for r in lb.fetched(0, [Rec(12), Rec(13), Rec(14)])] == [12, 13, 14]
    assert [r.offset for r in lb.take(0)] == [15]


def test_the_consumer_drops_what_the_loopback_applied_and_vice_versa() -> None:
    lb = Loopback()
    lb.fetched(0, [Rec(0)])
    lb.offer(0, 1, items(3))
    assert [r.offset for r in lb.take(0)] == [1, 2, 3]
    assert [r.offset for r in lb.fetched(0, [Rec(2), Rec(3), Rec(4)])] == [4]
    assert lb.fetched(0, [Rec(3)]) == []
    assert lb.offer(0, 2, items(2)) is False  # already read by the consumer: dropped
    assert lb.take(0) == []
    assert lb.next[0] == 5


def test_partitions_are_independent_and_forgotten_on_reassignment() -> None:
    lb = Loopback()
    lb.fetched(0, [Rec(4)])
    lb.fetched(1, [Rec(40)])
    lb.offer(1, 41, items(1))
    lb.offer(0, 5, items(1))
    assert [r.offset for r in lb.take(1)] == [41]
    lb.forget(0)
    assert lb.take(0) == []  # after a rebalance the position comes from the consumer again
    assert 0 not in lb.next


def test_waiting_batches_are_bounded() -> None:
    lb = Loopback(max_waiting=2)
    lb.fetched(0, [Rec(0)])
    for base in (10, 20, 30):
        lb.offer(0, base, items(1))
    lb.fetched(0, [Rec(i) for i in range(1, 20)])
    assert [r.offset for r in lb.take(0)] == [20]  # 10 was dropped (the consumer delivered it)


def test_following_pauses_once_and_idles_out() -> None:
    lb = Loopback(idle_after=0.1)
    assert lb.fed(3, now=10.0) is True  # first feed: pause the consumer
    assert lb.fed(3, now=10.05) is False
    assert lb.idle(10.1) == []
    assert lb.idle(10.2) == [3]
    assert lb.unfollow(3) is True
    assert lb.unfollow(3) is False  # already reading


async def _internal_counts(url: str) -> dict[str, float]:
    text = (await asyncio.to_thread(httpx.get, f"{url}/metrics", timeout=5.0)).text
    return {m.group(1): float(m.group(2)) for m in
            re.finditer(r'^cjo_internal_records_total\{path="(\w+)"\} (\S+)$', text, re.M)}


@pytest.mark.broker
async def test_exact_when_another_writer_interleaves_on_the_internal_topic(spawn: Any,
                                                                          worker_env: dict[str, str]) -> None:
    """Half the customers arrive through the input topic (loopback), half are written straight to the
    internal topic the way another worker's stage 1 would; every command must come out exactly once."""
    w = spawn()
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]
    lines = scenario(40, time.time())
    expected = simulate(lines)
    mine = [ln for ln in lines if int(re.search(rb'"shopper-(\d+)"', ln).group(1)) % 2 == 0]  # type: ignore[union-attr]
    theirs = [ln for ln in lines if ln not in mine]
    part = Partitioner(int(worker_env["CJO_PARTITIONS"]))
    other = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await other.start()

    async def foreign() -> None:
        for key, value in keyed(theirs):
            assert key is not None
            await other.send_and_wait("cjo.customer-events", value, key=key, partition=part(key))
            await asyncio.sleep(0.002)

    try:
        await asyncio.gather(produce(bootstrap, "cjo.touchpoints", keyed(mine)), foreign())
    finally:
        await other.stop()
    got = await collect(bootstrap, DELIVERY, lambda rs: len(rs) >= len(expected), timeout=40)
    assert by_id(got) == expected
    assert len(got) == len(expected)
    counts = await _internal_counts(w.url)
    assert counts.get("loopback", 0) > 0  # the worker's own records skipped the broker round trip
    assert counts.get("fetched", 0) >= len(theirs)  # the foreign ones were read from the broker


@pytest.mark.broker
async def test_same_commands_with_the_loopback_off(spawn: Any, worker_env: dict[str, str]) -> None:
    w = spawn(CJO_LOOPBACK="0")
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]
    lines = scenario(20, time.time())
    expected = simulate(lines)
    await produce(bootstrap, "cjo.touchpoints", keyed(lines))
    got = await collect(bootstrap, DELIVERY, lambda rs: len(rs) >= len(expected), timeout=40)
    assert by_id(got) == expected
    assert len(got) == len(expected)
    counts = await _internal_counts(w.url)
    assert counts.get("loopback", 0) == 0
    assert counts.get("fetched", 0) > 0
