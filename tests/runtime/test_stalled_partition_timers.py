"""A killed worker's input partitions stay assigned to it until its session times out, unread: meanwhile the
other workers' timers wait (runtime.stalls), so a wait whose event came there before it was due is not timed out.

Drilled before (an SRE's SIGKILL): a reminder sent though the customer had checked out, its checkout unread in a
partition the dead worker still held. Here a consumer of the worker's stage-1 group stands for the other worker:
it joins, takes half the partitions, and is killed. The customer's cart reaches the live worker; its checkout,
a second later, goes to a partition the dead member holds; the wait's timeout falls before the group notices.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from cjo_stream import metrics
from cjo_stream.config import Settings
from cjo_stream.events import format_ts
from cjo_stream.journeys.loader import load_topology
from cjo_stream.kafka.local_broker import LocalBroker
from cjo_stream.runtime.worker import StreamWorker
from tests.runtime.conftest import collect, event_line, until

pytestmark = pytest.mark.broker

TIMEOUT = 8  # the wait's: after the stall is seen (~2-3 s), before the group notices the member gone (15 s)

JOURNEY = f"""\
journey: slow_cart
entry: {{event: cart_item_added}}
steps:
  - id: wait_checkout
    wait_for: {{event: checkout_started, timeout: {TIMEOUT}s}}
    on_event: thanks
    on_timeout: remind
  - {{id: remind, send: {{channel: in_app, content: {{body: "You left something behind"}}}}, next: end}}
  - {{id: thanks, send: {{channel: in_app, content: {{body: "Thanks for checking out"}}}}}}
"""

MEMBER = """
import asyncio, json, sys
from aiokafka import AIOKafkaConsumer
async def main():
    c = AIOKafkaConsumer(*sys.argv[3:], bootstrap_servers=sys.argv[1], group_id=sys.argv[2],
                         enable_auto_commit=False, session_timeout_ms=15000, heartbeat_interval_ms=1000)
    await c.start()
    while not c.assignment():
        await c.getmany(timeout_ms=100)
    print(json.dumps([[tp.topic, tp.partition] for tp in c.assignment()]), flush=True)
    while True:
        await asyncio.sleep(1)  # holds its partitions, reads nothing: as a worker about to be killed
asyncio.run(main())
"""



async def test_timers_wait_for_the_partitions_a_killed_worker_still_holds(broker: LocalBroker, tmp_path: Path) -> None:
    (tmp_path / "topo" / "journeys").mkdir(parents=True)
    (tmp_path / "topo" / "journeys" / "slow_cart.yaml").write_text(JOURNEY)
    s = Settings(bootstrap=broker.bootstrap, partitions=4, store="rocksdb", data_dir=str(tmp_path / "data"),
                 session_timeout_ms=15000)  # (the local broker times a group's members out by its first member's)
    w = StreamWorker(s, load_topology(str(tmp_path / "topo")))
    await w.start()
    member: subprocess.Popen[str] | None = None
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        await until(lambda: w.ingest_consumer.assignment() and not w.ingest_behind, "stage 1 never caught up")
        member = subprocess.Popen([sys.executable, "-c", MEMBER, broker.bootstrap, w.ingest_group, s.input_topic,
                                   s.receipts_topic], stdout=subprocess.PIPE, text=True, start_new_session=True)
        assert member.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(member.stdout.readline), 60)
        theirs = {TopicPartition(t, p) for t, p in json.loads(line)}
        await until(lambda: not w.ingest_rebalancing and w.ingest_consumer.assignment()
                     and not w.ingest_consumer.assignment() & theirs, "the worker was not assigned its half")
        mine = next(tp.partition for tp in w.ingest_consumer.assignment() if tp.topic == s.input_topic)
        dead = next(tp.partition for tp in theirs if tp.topic == s.input_topic)
        os.killpg(member.pid, signal.SIGKILL)  # no LeaveGroup: its partitions stay its own for its session

        t0 = time.time()
        cart = event_line(messageId="cart-1", type="track", event="cart_item_added", userId="u1",
                          timestamp=format_ts(t0))
        await producer.send_and_wait(s.input_topic, cart, key=b"u1", partition=mine)
        await until(lambda: sum(len(p.timers) for p in w.parts.values()) >= 1, "the cart was not applied")
        await asyncio.sleep(max(0.0, t0 + 1 - time.time()))
        checkout = event_line(messageId="co-1", type="track", event="checkout_started", userId="u1",
                              timestamp=format_ts(t0 + 1))
        await producer.send_and_wait(s.input_topic, checkout, key=b"u1", partition=dead)  # unread for now
        await until(lambda: w.timers_held_since is not None, "the stalled partition was not seen", 30)
        assert metrics.TIMERS_HELD._value.get() == 1

        got = await collect(broker.bootstrap, [s.delivery_topic("in_app")], lambda rs: len(rs) >= 1, timeout=90)
        steps = [orjson.loads(r.value)["step"] for r in got]
        assert steps == ["thanks"], steps  # the checkout, read once the group took the partition back, came first
        await until(lambda: w.timers_held_since is None, "timers still held once the partition was read", 30)
        assert metrics.TIMERS_HELD._value.get() == 0
    finally:
        if member is not None and member.poll() is None:
            os.killpg(member.pid, signal.SIGKILL)
        await producer.stop()
        await w.stop()
