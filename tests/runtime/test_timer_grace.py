"""A live worker fires a timer ``CJO_TIMER_GRACE_MS`` after it is due: an event that happened before the due time but
was still on its way (producer, broker, the two stages) is applied first, as replay applies it.

The restart drill (`python -m cjo_stream.bench.drill`) found the one difference left between live and replay even
without restarts: a wait's event from 25-412 ms before its timeout read after the timer had fired (a reminder sent
to a customer who had come back). Here the event is produced just after the due time, time-stamped just before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from cjo_stream import metrics
from cjo_stream.config import Settings
from cjo_stream.events import format_ts
from cjo_stream.journeys.loader import load_topology
from cjo_stream.kafka.local_broker import LocalBroker
from cjo_stream.runtime.worker import StreamWorker
from tests.runtime.conftest import collect, event_line, until

pytestmark = pytest.mark.broker

TIMEOUT = 3

JOURNEY = f"""\
journey: quick_cart
entry: {{event: cart_item_added}}
steps:
  - id: wait_checkout
    wait_for: {{event: checkout_started, timeout: {TIMEOUT}s}}
    on_event: thanks
    on_timeout: remind
  - {{id: remind, send: {{channel: in_app, content: {{body: "You left something behind"}}}}, next: end}}
  - {{id: thanks, send: {{channel: in_app, content: {{body: "Thanks for checking out"}}}}}}
"""


@contextlib.asynccontextmanager
async def running(broker: LocalBroker, tmp_path: Path,
                  grace_ms: int) -> AsyncIterator[tuple[StreamWorker, Settings, AIOKafkaProducer]]:
    """A worker on the quick_cart journey with the given timer grace, caught up, and a producer to its input."""
    (tmp_path / "topo" / "journeys").mkdir(parents=True)
    (tmp_path / "topo" / "journeys" / "quick_cart.yaml").write_text(JOURNEY)
    s = Settings(bootstrap=broker.bootstrap, partitions=2, store="rocksdb", data_dir=str(tmp_path / "data"),
                 timer_grace_ms=grace_ms)
    w = StreamWorker(s, load_topology(str(tmp_path / "topo")))
    await w.start()
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        await until(lambda: w.ingest_consumer.assignment() and not w.ingest_behind, "stage 1 never caught up")
        yield w, s, producer
    finally:
        await producer.stop()
        await w.stop()


async def test_an_event_in_flight_at_the_due_time_comes_before_the_timer(broker: LocalBroker, tmp_path: Path) -> None:
    # (a wide grace: the event below is produced 0.3 s after the due time)
    async with running(broker, tmp_path, grace_ms=3000) as (w, s, producer):
        t0 = time.time()
        cart = event_line(messageId="cart-1", type="track", event="cart_item_added", userId="u1",
                          timestamp=format_ts(t0))
        await producer.send_and_wait(s.input_topic, cart, key=b"u1")
        await until(lambda: sum(len(p.timers) for p in w.parts.values()) >= 1, "the cart was not applied")
        due = t0 + TIMEOUT
        await asyncio.sleep(max(0.0, due + 0.3 - time.time()))  # (without the grace the timer has fired by now)
        checkout = event_line(messageId="co-1", type="track", event="checkout_started", userId="u1",
                              timestamp=format_ts(due - 0.05))
        await producer.send_and_wait(s.input_topic, checkout, key=b"u1")
        got = await collect(broker.bootstrap, [s.delivery_topic("in_app")], lambda rs: len(rs) >= 1, timeout=30)
        assert [orjson.loads(r.value)["step"] for r in got] == ["thanks"]


async def test_an_event_later_than_the_grace_is_counted_as_overtaken(broker: LocalBroker, tmp_path: Path) -> None:
    """The limit, made visible: past the grace the timer decides without the event (the reminder goes out, as
    before), and ``cjo_events_overtaken_total`` says so, with how long a grace would have caught it."""
    counted = partial(metrics.REGISTRY.get_sample_value, "cjo_events_overtaken_total", {"journey": "quick_cart"})
    before = counted() or 0.0
    async with running(broker, tmp_path, grace_ms=200) as (w, s, producer):
        t0 = time.time()
        cart = event_line(messageId="cart-2", type="track", event="cart_item_added", userId="u2",
                          timestamp=format_ts(t0))
        await producer.send_and_wait(s.input_topic, cart, key=b"u2")
        got = await collect(broker.bootstrap, [s.delivery_topic("in_app")], lambda rs: len(rs) >= 1, timeout=30)
        assert [orjson.loads(r.value)["step"] for r in got] == ["remind"]  # the timer fired
        due = t0 + TIMEOUT
        await asyncio.sleep(max(0.0, due + 1.5 - time.time()))
        checkout = event_line(messageId="co-2", type="track", event="checkout_started", userId="u2",
                              timestamp=format_ts(due - 0.05))
        await producer.send_and_wait(s.input_topic, checkout, key=b"u2")
        await until(lambda: (counted() or 0.0) > before, "the overtaken checkout was not counted")
        assert (counted() or 0.0) - before == 1
