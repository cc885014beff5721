"""Seed a worker's changelogs with many customers waiting in a journey (restore and timer benchmarks).

Each customer is made by the real engine (identify, then ``cart_item_added`` → the abandoned-cart
journey parks in ``wait_for`` with a timer), so sizes and timer records are what a live worker writes.
Only the due times are rewritten, to spread them over a window the benchmark chooses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import msgspec
import orjson

from cjo_stream.engine import Engine
from cjo_stream.events import decode_event
from cjo_stream.journeys.loader import Topology
from cjo_stream.profile import new_profile
from cjo_stream.runtime.customers import encode_stored
from cjo_stream.runtime.timers import encode_timer, storage_key


def waiting_customers(topology: Topology, n: int, due: Callable[[int], float],
                      now: float | None = None) -> Iterator[tuple[bytes, bytes, bytes, bytes]]:
    """Yield ``(profile key, stored profile, timer key, timer)`` for ``n`` customers ``bench-c<i>``."""
    engine = Engine(topology.journeys, topology.policies)
    now = time.time() if now is None else now
    for i in range(n):
        cid = f"bench-c{i}"
        p = new_profile(cid)
        engine.process(p, decode_event(orjson.dumps({
            "messageId": f"seed-i-{i}", "type": "identify", "userId": cid, "timestamp": "2026-11-22T10:00:00Z",
            "traits": {"email": f"{cid}@example.com", "first_name": "Ann", "vip": i % 3 == 0},
            "context": {"channel": "web", "timezone": "Europe/Berlin"}})), now)
        res = engine.process(p, decode_event(orjson.dumps({
            "messageId": f"seed-c-{i}", "type": "track", "event": "cart_item_added", "userId": cid,
            "timestamp": "2026-11-22T10:01:00Z",
            "properties": {"cart_value": 45.0 + i % 50, "product_name": "Trail Tent", "product_id": "sku-1001"},
            "context": {"channel": "web"}})), now)
        if not res.timers:
            raise RuntimeError("the abandoned_cart journey did not park: the benchmark needs the example journeys")
        t = msgspec.structs.replace(res.timers[0], due=due(i))
        inst = p.instances[t.journey]
        inst.due = t.due
        yield cid.encode(), encode_stored(-1, p), storage_key(t), encode_timer(t)
