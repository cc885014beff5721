"""Live, on the broker: visitors keyed by their anonymous id before login and their user id after.

Their records travel through different partitions and reach the customer's partition in whatever order
the stages hand them on; some even arrive keyed by the anonymous id after the link is known (as from a
worker whose alias view lags). Every command the simulator decides for the events in timestamp order
must come out exactly once, with the same delivery id, and nothing else.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx
import orjson
import pytest

from cjo_stream.engine import Engine
from cjo_stream.events import decode_event, format_ts
from cjo_stream.journeys.loader import load_topology
from cjo_stream.simulator import Simulator
from tests.runtime.conftest import ROOT, collect, event_line, keyed, produce

pytestmark = pytest.mark.broker

TOPOLOGY = os.path.join(ROOT, "tests", "runtime", "topologies_identity")
N = 3000


def visitor(i: int, base: float) -> dict[str, list[bytes]]:
    """One person's events (timestamps as produced), split by the id they are keyed by."""
    a, u, t = f"anon-{i}", f"user-{i}", base + i * 0.0004
    anon = [event_line(messageId=f"p-{i}", type="page", anonymousId=a, timestamp=format_ts(t)),
            event_line(messageId=f"c-{i}", type="track", event="cart_item_added", anonymousId=a,
                       timestamp=format_ts(t + 0.001),
                       properties={"cart_value": 10 if i % 11 == 0 else 45, "product_name": f"P{i}"})]
    user = [event_line(messageId=f"i-{i}", type="identify", userId=u, anonymousId=a, timestamp=format_ts(t + 0.002),
                       traits={"email": f"{u}@example.com"})]
    if i % 3 == 0:
        user.append(event_line(messageId=f"k-{i}", type="track", event="checkout_started", userId=u,
                               timestamp=format_ts(t + 0.003)))
    return {"anon": anon, "user": user}


def expected_commands(lines: list[bytes]) -> dict[str, tuple[str, str, str]]:
    topo = load_topology(TOPOLOGY)
    sim = Simulator(Engine(topo.journeys, topo.policies))
    for e in sorted((decode_event(line) for line in lines), key=lambda e: e.ts):
        sim.handle(e)
    sim.finish()
    return {c.delivery_id: (c.customer_id, c.to or "", c.decided_at) for c in sim.commands}


async def test_visitors_keyed_both_ways_get_exactly_the_commands_of_timestamp_order(
        spawn: Any, worker_env: dict[str, str]) -> None:
    w = spawn(CJO_TOPOLOGIES=TOPOLOGY)
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]
    base = time.time() - 2  # as produced: in the past by the time it is read
    people = [visitor(i, base) for i in range(N)]
    everything = [line for p in people for line in p["anon"] + p["user"]]
    expected = expected_commands(everything)
    # 2/3 of abandoned carts over the threshold get a reminder, to the user id's address
    assert len(expected) == len([i for i in range(N) if i % 3 and i % 11]) > 1500
    assert all(cid.startswith("user-") and to == f"{cid}@example.com" for cid, to, _ in expected.values())

    stale = {i for i in range(N) if i % 29 == 0}  # carts that reach stage 2 keyed by the anonymous id, late
    first_user = [line for i, p in enumerate(people) if i % 2 == 0 for line in p["user"]]
    first_anon = [line for i, p in enumerate(people) if i % 2 == 1 for line in p["anon"] if i not in stale or
                  b"cart_item_added" not in line]
    then_anon = [line for i, p in enumerate(people) if i % 2 == 0 for line in p["anon"] if i not in stale or
                 b"cart_item_added" not in line]
    then_user = [line for i, p in enumerate(people) if i % 2 == 1 for line in p["user"]]
    # two producers at once: the user-keyed records of half the people race their anonymous records
    await asyncio.gather(produce(bootstrap, "cjo.touchpoints", keyed(first_user + then_user)),
                         produce(bootstrap, "cjo.touchpoints", keyed(first_anon + then_anon)))
    await asyncio.sleep(1.0)  # their identifies have been applied: the link is known everywhere
    from cjo_stream.kafka.partitioner import Partitioner

    part = Partitioner(int(worker_env["CJO_PARTITIONS"]))
    late_carts = [people[i]["anon"][1] for i in sorted(stale)]
    from aiokafka import AIOKafkaProducer

    p = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await p.start()
    try:
        for line in late_carts:
            key = orjson.loads(line)["anonymousId"].encode()
            await p.send_and_wait("cjo.customer-events", line, key=key, partition=part(key))
    finally:
        await p.stop()

    got = await collect(bootstrap, ["cjo.delivery.email"], lambda rs: len(rs) >= len(expected), timeout=120)
    await asyncio.sleep(2.0)
    got = await collect(bootstrap, ["cjo.delivery.email"], lambda rs: False, timeout=2)
    cmds = [orjson.loads(r.value) for r in got]
    seen = {c["delivery_id"]: (c["customer_id"], c["to"], c["decided_at"]) for c in cmds}
    missing = set(expected) - set(seen)
    unexpected = set(seen) - set(expected)
    assert not missing and not unexpected, (len(missing), len(unexpected), sorted(seen[d] for d in unexpected)[:4])
    assert seen == expected and len(cmds) == len(expected)  # each once, to the known customer, on time

    metrics = httpx.get(f"{w.url}/metrics").text
    late = [line for line in metrics.splitlines() if line.startswith("cjo_events_late_total ")]
    assert late and float(late[0].split()[1]) > 0  # the race did happen: events arrived out of order
    profile = httpx.get(f"{w.url}/customers/anon-4").json()["profile"]
    assert profile["customer_id"] == "user-4" and profile["counters"]["cart_item_added"] == 1
    # each anonymous profile merged on login is told to the analytics service (its sends count with the
    # customer's), as the simulator folds it: one `linked` record, from the person's own anonymous id
    events = [orjson.loads(r.value) for r in await collect(bootstrap, ["cjo.journey-events"], lambda rs: False,
                                                              timeout=3)]
    linked = [(e["customer_id"], e["from"]) for e in events if e["kind"] == "linked"]
    assert len(linked) > N // 4 and len(set(linked)) == len(linked), len(linked)
    assert all(cid == "user-" + anon.removeprefix("anon-") for cid, anon in linked), linked[:4]


def test_an_identify_naming_a_known_customer_as_its_anonymous_id_merges_nothing(
        spawn: Any, worker_env: dict[str, str]) -> None:
    """Live, as the simulator (tests/engine/test_identity_time.py): identify {userId: mallory, anonymousId:
    alice} moved alice's profile to mallory, and alice's later events with it (a security review)."""
    w = spawn(CJO_TOPOLOGIES=TOPOLOGY)
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]
    t = time.time() - 5
    asyncio.run(produce(bootstrap, "cjo.touchpoints", keyed([
        event_line(messageId="t-a1", type="identify", userId="alice", timestamp=format_ts(t),
                   traits={"email": "alice@example.com"})])))
    deadline = time.monotonic() + 60
    while httpx.get(f"{w.url}/customers/alice").status_code != 200:
        assert time.monotonic() < deadline, w.log()
        time.sleep(0.2)
    asyncio.run(produce(bootstrap, "cjo.touchpoints", keyed([
        event_line(messageId="t-m1", type="identify", userId="mallory", anonymousId="alice",
                   timestamp=format_ts(t + 1), traits={"first_name": "Mallory"}),
        event_line(messageId="t-a2", type="track", event="page_seen", userId="alice", timestamp=format_ts(t + 2))])))
    while True:
        alice = httpx.get(f"{w.url}/customers/alice").json()["profile"]
        if alice["counters"].get("page_seen") == 1:
            break
        assert time.monotonic() < deadline, (alice, w.log())
        time.sleep(0.2)
    mallory = httpx.get(f"{w.url}/customers/mallory").json()["profile"]
    assert alice["customer_id"] == "alice" and alice["traits"]["email"] == "alice@example.com"
    assert mallory["customer_id"] == "mallory" and "email" not in mallory["traits"], mallory
