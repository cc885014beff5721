"""End to end against the real broker: events in, exactly the simulator's delivery commands out."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import orjson
import pytest

from cjo_stream.commands import Receipt
from cjo_stream.engine import Engine
from cjo_stream.events import decode_event, format_ts
from cjo_stream.journeys.loader import load_topology
from cjo_stream.simulator import Simulator
from tests.runtime.conftest import ROOT, collect, event_line, keyed, produce

pytestmark = pytest.mark.broker

DELIVERY = ["cjo.delivery.email", "cjo.delivery.in_app", "cjo.delivery.push"]


def scenario(n: int, now: float) -> list[bytes]:
    """n shoppers: identify, add to cart; every third checks out in time, every fifth is under the threshold."""
    lines = []
    ts = format_ts(now)
    for i in range(n):
        uid = f"shopper-{i}"
        lines.append(event_line(messageId=f"id-{i}", type="identify", userId=uid, timestamp=ts,
                                traits={"email": f"s{i}@example.com", "first_name": f"N{i}"}))
        lines.append(event_line(messageId=f"cart-{i}", type="track", event="cart_item_added", userId=uid,
                                timestamp=ts, properties={"cart_value": 10 if i % 5 == 0 else 42,
                                                          "product_name": f"P{i}"}, context={"channel": "web"}))
        if i % 3 == 0:
            lines.append(event_line(messageId=f"co-{i}", type="track", event="checkout_started", userId=uid,
                                    timestamp=ts, context={"channel": "web"}))
    return lines


def simulate(lines: list[bytes]) -> dict[str, dict[str, Any]]:
    topo = load_topology(os.path.join(ROOT, "tests", "runtime", "topologies"))
    sim = Simulator(Engine(topo.journeys, topo.policies))
    for line in lines:
        sim.handle(decode_event(line))
    sim.finish()
    return {c.delivery_id: {"channel": c.channel, "customer": c.customer_id, "step": c.step, "content": c.content}
            for c in sim.commands}


def by_id(records: list[Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for r in records:
        c = orjson.loads(r.value)
        out[c["delivery_id"]] = {"channel": c["channel"], "customer": c["customer_id"], "step": c["step"],
                                 "content": c["content"]}
    return out


async def test_runtime_produces_exactly_what_the_simulator_predicts(spawn: Any, worker_env: dict[str, str]) -> None:
    w = spawn()
    w.wait_ready()
    lines = scenario(30, time.time())
    expected = simulate(lines)
    assert len(expected) == 2 * len([i for i in range(30) if i % 3 and i % 5])  # email + nudge each
    t0 = time.monotonic()
    await produce(worker_env["CJO_BROKER"], "cjo.touchpoints", keyed(lines))
    got = await collect(worker_env["CJO_BROKER"], DELIVERY, lambda rs: len(rs) >= len(expected), timeout=40)
    elapsed = time.monotonic() - t0
    assert by_id(got) == expected
    assert len(got) == len(expected)  # no duplicates either
    assert elapsed < 30  # real time: 3 s checkout window + 4 s open window, not hours


async def test_receipts_flow_back_as_events_journeys_wait_for(spawn: Any, worker_env: dict[str, str]) -> None:
    w = spawn()
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]
    lines = scenario(2, time.time())  # shopper-0 is under threshold and checks out; shopper-1 abandons
    await produce(bootstrap, "cjo.touchpoints", keyed(lines))
    emails = await collect(bootstrap, ["cjo.delivery.email"], lambda rs: len(rs) >= 1, timeout=20)
    cmd = orjson.loads(emails[0].value)
    receipt = Receipt(delivery_id=cmd["delivery_id"], customer_id=cmd["customer_id"], channel="email",
                      status="opened", at=format_ts(time.time()), journey=cmd["journey"], step=cmd["step"])
    import msgspec

    await produce(bootstrap, "cjo.receipts", [(cmd["customer_id"].encode(), msgspec.json.encode(receipt))])
    inbox = await collect(bootstrap, ["cjo.delivery.in_app"], lambda rs: len(rs) >= 1, timeout=20)
    assert orjson.loads(inbox[0].value)["step"] == "thanks"
    await asyncio.sleep(5)  # the open-timeout would have fired by now: it must not (timer is stale)
    inbox = await collect(bootstrap, ["cjo.delivery.in_app"], lambda rs: False, timeout=2)
    assert [orjson.loads(r.value)["step"] for r in inbox] == ["thanks"]
