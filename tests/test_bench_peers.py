"""The bench's peers decide what the plain Faust peer decides: the journey step, and each framework running it."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from cjo_stream.bench.cart import step
from cjo_stream.bench.peers import START, PeerUnavailable, missing, run_peer
from cjo_stream.bench.runner import produce_all
from cjo_stream.config import Settings
from cjo_stream.events import format_ts
from cjo_stream.kafka.local_broker import LocalBroker
from cjo_stream.kafka.topics import ensure_topics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T0 = 1_780_000_000.0
H = 3600.0


def touch(user: str, at: float, name: str = "", **extra: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {"type": "track", "event": name, "userId": user, "timestamp": format_ts(T0 + at)}
    ev.update(extra)
    return ev


def identify(user: str, at: float) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "timestamp": format_ts(T0 + at), "traits": {"email": f"{user}@x.test"}}


def cart(user: str, at: float) -> dict[str, Any]:
    return touch(user, at, "cart_item_added", properties={"product_name": "Mug"})


#: three customers: one who is reminded and then orders, one who checks out in time, one with no email
JOURNEYS = [identify("c1", 0), cart("c1", 60), identify("c2", 0), cart("c2", 60), cart("c3", 60),
            touch("c2", 600, "checkout_started"), touch("c1", 2 * H, "page_viewed"), touch("c3", 2 * H, "page_viewed"),
            touch("c2", 2 * H, "page_viewed"), touch("c1", 3 * H, "order_completed")]
DECIDED = [{"customer": "c1", "to": "c1@x.test", "product": "Mug"}, {"customer": "c1", "converted": True}]


def run_step(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    states: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    for ev in events:
        states[ev["userId"]], sent = step(states.get(ev["userId"]), ev)
        out += sent
    return out


def test_step_reminds_an_abandoned_cart_once_and_marks_the_order_as_converted() -> None:
    assert run_step(JOURNEYS) == DECIDED
    assert run_step(JOURNEYS + [touch("c1", 9 * H, "page_viewed")]) == DECIDED  # a cart is reminded once


def test_step_waits_the_full_hour() -> None:
    early = [identify("c1", 0), cart("c1", 0), touch("c1", H - 1, "page_viewed"), touch("c1", H + 1, "page_viewed")]
    assert run_step(early[:3]) == []
    assert run_step(early) == DECIDED[:1]


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    with LocalBroker() as b:
        asyncio.run(produce_all(Settings(bootstrap=b.bootstrap, partitions=4), "peers.touchpoints",
                                [orjson.dumps(e) for e in JOURNEYS], 4))
        yield b.bootstrap


async def read_decisions(bootstrap: str, topic: str, want: int, timeout: float) -> list[dict[str, Any]]:
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                         fetch_max_wait_ms=100)
    await c.start()
    out: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(out) < want and time.monotonic() < deadline:
            for recs in (await c.getmany(timeout_ms=500)).values():
                out += [orjson.loads(r.value) for r in recs]
    finally:
        await c.stop()
    return out


@pytest.mark.broker
@pytest.mark.parametrize("kind", ["quix", "bytewax"])
def test_peer_sends_what_the_step_decides(kind: str, bootstrap: str, tmp_path: Any) -> None:
    pytest.importorskip({"quix": "quixstreams", "bytewax": "bytewax"}[kind])
    start, name = START[kind]
    proc = start(bootstrap, "peers.touchpoints", f"peers-{kind}", str(tmp_path), len(JOURNEYS), ROOT)
    try:
        got = asyncio.run(read_decisions(bootstrap, f"peers-{kind}.email", len(DECIDED), timeout=90.0))
        assert proc.alive(), proc.tail()
        assert got == DECIDED, proc.tail()
    finally:
        proc.stop()


def test_a_peer_that_is_not_installed_is_a_reason_not_a_crash() -> None:
    with pytest.raises(PeerUnavailable, match=r"no_such_peer is not installed.*pip install"):
        missing("no_such_peer_module", "no_such_peer")


@pytest.mark.broker
def test_quix_on_an_input_without_retention_ms_says_why_it_did_not_run(bootstrap: str, tmp_path: Any) -> None:
    """The local broker reports no ``retention.ms`` for a topic created without one (the bench states it)."""
    pytest.importorskip("quixstreams")
    asyncio.run(ensure_topics(Settings(bootstrap=bootstrap, partitions=4), ["peers.bare"]))
    with pytest.raises(PeerUnavailable, match=r"Quix Streams exited \(1\): KeyError: 'retention.ms'"):
        run_peer("quix", bootstrap, "peers.bare", "peers-bare", 1, str(tmp_path), 10.0, ROOT)
