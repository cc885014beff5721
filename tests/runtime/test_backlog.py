"""A worker that starts behind (an outage's backlog) decides as it would have in real time.

Every event and every timer in the backlog lies in the past. Timers must not fire on the wall clock
before the events that happened before they were due have been applied: a checkout made a second
after the cart ends the cart's wait although the worker reads them in different batches, minutes later.
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson
import pytest

from cjo_stream.engine import Engine
from cjo_stream.events import decode_event, format_ts
from cjo_stream.journeys.loader import load_topology
from cjo_stream.simulator import Simulator
from tests.runtime.conftest import ROOT, collect, event_line, keyed, produce

pytestmark = pytest.mark.broker

N = 900


def backlog(t0: float) -> list[bytes]:
    """Shoppers one after another, every third checking out a second after adding to the cart."""
    timed: list[tuple[float, bytes]] = []
    for i in range(N):
        uid, t = f"late-{i}", t0 + i * 0.01
        timed.append((t, event_line(messageId=f"id-{i}", type="identify", userId=uid, timestamp=format_ts(t),
                                    traits={"email": f"{uid}@example.com"})))
        timed.append((t, event_line(messageId=f"cart-{i}", type="track", event="cart_item_added", userId=uid,
                                    timestamp=format_ts(t), properties={"cart_value": 50, "product_name": "Lamp"})))
        if i % 3 == 0:  # before the 3 s checkout window closed
            timed.append((t + 1, event_line(messageId=f"co-{i}", type="track", event="checkout_started",
                                            userId=uid, timestamp=format_ts(t + 1))))
    return [line for _, line in sorted(timed, key=lambda x: x[0])]  # the topic holds them in time order


async def test_a_backlog_fires_no_timer_before_the_events_due_before_it(spawn: Any, worker_env: dict[str, str]) -> None:
    lines = backlog(time.time() - 300)
    topo = load_topology(os.path.join(ROOT, "tests", "runtime", "topologies"))
    sim = Simulator(Engine(topo.journeys, topo.policies))
    for e in sorted((decode_event(x) for x in lines), key=lambda e: e.ts):
        sim.handle(e)
    sim.finish()
    expected = {c.delivery_id: (c.customer_id, c.step, c.decided_at) for c in sim.commands}
    assert len(expected) == 2 * len([i for i in range(N) if i % 3])  # reminder and nudge per abandoned cart

    bootstrap = worker_env["CJO_BROKER"]
    await produce(bootstrap, "cjo.touchpoints", keyed(lines))  # the backlog is there before the worker
    w = spawn(CJO_BATCH_MAX="50")  # small batches: carts and their checkouts are read far apart
    w.wait_ready()
    topics = ["cjo.delivery.email", "cjo.delivery.in_app"]
    await collect(bootstrap, topics, lambda rs: len(rs) >= len(expected), timeout=90)
    got = await collect(bootstrap, topics, lambda rs: False, timeout=3)
    seen = {(c := orjson.loads(r.value))["delivery_id"]: (c["customer_id"], c["step"], c["decided_at"]) for r in got}
    assert set(seen) - set(expected) == set()  # no reminder for a cart whose checkout was still unread
    assert seen == expected and len(got) == len(expected)
