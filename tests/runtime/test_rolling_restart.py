"""A rolling restart of two workers under load loses and duplicates nothing.

Shoppers arrive steadily while each worker in turn is stopped (SIGTERM: it finishes its batch, commits,
checkpoints its stores and leaves the groups, so its partitions move to the other worker at once) and
started again (it rejoins, restores only the tail of its changelogs and takes its share back). Every
delivery command the simulator decides for the same events must come out exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import orjson
import pytest

from cjo_stream.bench.scale import _phases
from cjo_stream.events import format_ts
from tests.runtime.conftest import collect, event_line, produce
from tests.runtime.test_e2e import DELIVERY, simulate

pytestmark = pytest.mark.broker

SHOPPERS = 160


def shopper(i: int, now: float) -> list[bytes]:
    uid, ts = f"roll-{i}", format_ts(now)
    lines = [event_line(messageId=f"roll-id-{i}", type="identify", userId=uid, timestamp=ts,
                        traits={"email": f"roll{i}@example.com"}),
             event_line(messageId=f"roll-cart-{i}", type="track", event="cart_item_added", userId=uid, timestamp=ts,
                        properties={"cart_value": 10 if i % 7 == 0 else 42, "product_name": f"P{i}"})]
    if i % 4 == 0:
        lines.append(event_line(messageId=f"roll-co-{i}", type="track", event="checkout_started", userId=uid,
                                timestamp=ts))
    return lines


async def test_rolling_restart_under_load_loses_and_duplicates_nothing(spawn: Any, worker_env: dict[str, str]) -> None:
    bootstrap = worker_env["CJO_BROKER"]
    a, b = spawn(CJO_LOG_LEVEL="INFO"), spawn(CJO_LOG_LEVEL="INFO")
    a.wait_ready()
    b.wait_ready(partitions=False)
    sent: list[bytes] = []

    async def load() -> None:  # ~8 shoppers a second for the whole restart
        for i in range(SHOPPERS):
            lines = shopper(i, time.time())
            sent.extend(lines)
            await produce(bootstrap, "cjo.touchpoints", [(orjson.loads(x)["userId"].encode(), x) for x in lines])
            await asyncio.sleep(0.12)

    producer = asyncio.create_task(load())
    for w in (a, b):
        await asyncio.sleep(2.0)
        await asyncio.to_thread(w.stop)
        w.start()
        await asyncio.to_thread(w.wait_ready, 60.0, False)
    await producer
    expected = simulate(sent)
    assert len(expected) > SHOPPERS  # reminders and nudges
    got = await collect(bootstrap, DELIVERY, lambda rs: len({orjson.loads(r.value)["delivery_id"] for r in rs})
                        >= len(expected), timeout=60)
    await asyncio.sleep(3.0)  # anything extra (a duplicate) would arrive by now
    got = await collect(bootstrap, DELIVERY, lambda rs: False, timeout=2)
    ids = Counter(orjson.loads(r.value)["delivery_id"] for r in got)
    assert set(ids) == set(expected), (len(set(expected) - set(ids)), len(set(ids) - set(expected)))
    assert max(ids.values()) == 1, [d for d, n in ids.items() if n > 1][:5]
    # the hand-over's phases are in the workers' logs, where `make bench` reads them
    phases = _phases([a.log_path, b.log_path])
    assert len(phases["left"]) == 2, phases  # each SIGTERM: the time until the worker left its groups
    assert phases["revoke"] and phases["rebalance"] and phases["restore"], phases  # the other worker's side
