"""Bad input, crashes, a second worker, erasure — against the real broker and real worker processes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import orjson
import pytest

from cjo_stream.events import MAX_EVENT_BYTES, format_ts
from tests.runtime.conftest import GroupWatch, collect, event_line, keyed, produce, settings_for

pytestmark = pytest.mark.broker

DELIVERY = ["cjo.delivery.email", "cjo.delivery.in_app"]


def carts(prefix: str, n: int, now: float) -> list[bytes]:
    out = []
    for i in range(n):
        uid = f"{prefix}-{i}"
        out.append(event_line(messageId=f"{prefix}-id-{i}", type="identify", userId=uid, timestamp=format_ts(now),
                              traits={"email": f"{uid}@example.com"}))
        out.append(event_line(messageId=f"{prefix}-cart-{i}", type="track", event="cart_item_added", userId=uid,
                              timestamp=format_ts(now), properties={"cart_value": 50, "product_name": "Lamp"}))
    return out


async def test_bad_input_goes_to_the_dlq_with_reasons_and_the_worker_keeps_running(
        spawn: Any, worker_env: dict[str, str]) -> None:
    w = spawn()
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]
    now = format_ts(time.time())
    bad = [
        b"{not json",
        event_line(messageId="b1", type="track", event="x", userId=42.5, timestamp=now),
        event_line(type="track", event="x", userId="u", timestamp=now),
        event_line(messageId="b3", type="track", event="x", timestamp=now),
        event_line(messageId="b4", type="track", event="x", userId="u", timestamp="not a time"),
        event_line(messageId="b5", type="purchase", userId="u", timestamp=now),
        event_line(messageId="b6", type="track", event="x", userId="u", timestamp=now,
                   properties={"pad": "x" * (MAX_EVENT_BYTES + 10)}),
    ]
    good = carts("dlq", 3, time.time())
    records = [(b"k", line) for line in bad[:4]] + keyed(good) + [(None, x) for x in bad[4:]]
    await produce(bootstrap, "cjo.touchpoints", records)
    dlq = await collect(bootstrap, ["cjo.touchpoints.dlq"], lambda rs: len(rs) >= len(bad), timeout=30)
    reasons = Counter(dict(r.headers)["cjo.reason"].decode() for r in dlq)
    assert reasons == {"invalid_json": 1, "wrong_type": 1, "missing_field": 1, "missing_id": 1, "bad_timestamp": 1,
                       "unknown_type": 1, "too_large": 1}
    for r in dlq:
        h = dict(r.headers)
        assert h["cjo.source.topic"] == b"cjo.touchpoints" and int(h["cjo.source.offset"]) >= 0
        assert h["cjo.detail"] and float(h["cjo.failed_at"]) > 0
    assert sorted(r.value for r in dlq) == sorted(bad)  # unchanged payloads
    emails = await collect(bootstrap, ["cjo.delivery.email"], lambda rs: len(rs) >= 3, timeout=30)
    assert len(emails) == 3  # good events around the bad ones still flowed
    metrics = httpx.get(f"{w.url}/metrics").text
    assert 'cjo_events_invalid_total{reason="too_large"} 1.0' in metrics


async def test_duplicate_message_ids_are_dropped_and_counted(spawn: Any, worker_env: dict[str, str]) -> None:
    w = spawn()
    w.wait_ready()
    lines = carts("dup", 2, time.time())
    await produce(worker_env["CJO_BROKER"], "cjo.touchpoints", keyed(lines + lines))
    emails = await collect(worker_env["CJO_BROKER"], ["cjo.delivery.email"], lambda rs: len(rs) >= 2, timeout=30)
    await asyncio.sleep(1)
    assert len({orjson.loads(r.value)["delivery_id"] for r in emails}) == 2
    assert "cjo_events_duplicate_total 4.0" in httpx.get(f"{w.url}/metrics").text


async def test_crash_restores_state_and_fires_every_pending_timer(spawn: Any, worker_env: dict[str, str]) -> None:
    bootstrap = worker_env["CJO_BROKER"]
    w = spawn()
    w.wait_ready()
    first = carts("crash-a", 20, time.time())
    await produce(bootstrap, "cjo.touchpoints", keyed(first))
    # wait until the worker has taken them in (timers pending), then crash it hard
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r = httpx.get(f"{w.url}/customers/crash-a-19")
        if r.status_code == 200 and r.json()["pending_timers"]:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(w.log())
    more = carts("crash-b", 20, time.time())
    await produce(bootstrap, "cjo.touchpoints", keyed(more[:20]))
    app = settings_for(worker_env).app_id
    groups = [f"{app}-customers", f"{app}-ingest"]
    async with GroupWatch(bootstrap, groups) as watch:
        dead = {g: watch.seen[g][-1] for g in groups}  # the running worker's members, about to be orphaned
        w.kill()
        await produce(bootstrap, "cjo.touchpoints", keyed(more[20:]))
        w.start()  # the same worker again: same port, same data directory
        await asyncio.to_thread(w.wait_ready)
    # it removed its dead run's members before joining, so its partitions came back at once: without
    # that the broker lists both members until the dead one's session expires (6 s), and only then
    # lets the new one in
    for g in groups:
        assert len(dead[g]) == 1 and watch.replaced(g, dead[g]), (g, watch.seen[g])
    got = await collect(bootstrap, DELIVERY, lambda rs: len({orjson.loads(r.value)["delivery_id"] for r in rs}) >= 80,
                        timeout=60)
    cmds = [orjson.loads(r.value) for r in got]
    ids = {c["delivery_id"] for c in cmds}
    # every customer got the reminder email and then the nudge: none lost
    per_customer = Counter(c["customer_id"] for c in {c["delivery_id"]: c for c in cmds}.values())
    assert len(ids) == 80 and set(per_customer.values()) == {2}, per_customer
    # duplicates are allowed only as the same delivery_id with the same content
    by_id: dict[str, Any] = {}
    for c in cmds:
        key = (c["customer_id"], c["step"], orjson.dumps(c["content"]))
        assert by_id.setdefault(c["delivery_id"], key) == key
    profile = httpx.get(f"{w.url}/customers/crash-a-3").json()["profile"]
    assert profile["counters"]["cart_item_added"] == 1  # restored, and not applied twice


async def test_two_workers_split_partitions_and_survive_one_dying(spawn: Any, worker_env: dict[str, str]) -> None:
    bootstrap = worker_env["CJO_BROKER"]
    a = spawn()
    a.wait_ready()
    b = spawn()
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:  # wait for the rebalance to settle: each worker owns a disjoint half
        ha, hb = a.wait_ready(), b.wait_ready(partitions=False)
        if ha["partitions"] and hb["partitions"] and sorted(ha["partitions"] + hb["partitions"]) == [0, 1, 2, 3]:
            break
        await asyncio.sleep(0.5)
    assert sorted(ha["partitions"] + hb["partitions"]) == [0, 1, 2, 3], (ha, hb)
    lines = carts("pair", 12, time.time())
    await produce(bootstrap, "cjo.touchpoints", keyed(lines))
    await collect(bootstrap, ["cjo.delivery.email"], lambda rs: len(rs) >= 12, timeout=30)
    # the state API routes to the owner, whichever worker is asked
    for i in range(12):
        r = httpx.get(f"{a.url}/customers/pair-{i}")
        assert r.status_code == 200 and r.json()["profile"]["customer_id"] == f"pair-{i}"
    b.kill()
    got = await collect(bootstrap, DELIVERY, lambda rs: len(rs) >= 24, timeout=60)
    assert len({orjson.loads(r.value)["delivery_id"] for r in got}) == 24  # every nudge fired, none twice
    deadline = time.monotonic() + 60  # (on a slow machine b may have fired its nudges before it died)
    while sorted(a.wait_ready()["partitions"]) != [0, 1, 2, 3] and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert sorted(a.wait_ready()["partitions"]) == [0, 1, 2, 3]  # a took b's partitions over


async def test_erase_removes_state_and_timers(spawn: Any, worker_env: dict[str, str]) -> None:
    bootstrap = worker_env["CJO_BROKER"]
    w = spawn()
    w.wait_ready()
    lines = carts("gdpr", 2, time.time())
    lines.insert(0, event_line(messageId="anon-1", type="page", anonymousId="anon-gdpr", timestamp=format_ts(time.time())))
    lines.insert(1, event_line(messageId="link-1", type="identify", anonymousId="anon-gdpr", userId="gdpr-0",
                               timestamp=format_ts(time.time())))
    await produce(bootstrap, "cjo.touchpoints", keyed(lines))
    deadline = time.monotonic() + 20
    while httpx.get(f"{w.url}/customers/gdpr-0").status_code != 200 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert httpx.get(f"{w.url}/customers/anon-gdpr").json()["customer_id"] == "gdpr-0"  # alias resolves
    r = httpx.delete(f"{w.url}/customers/gdpr-0")
    assert r.status_code == 202
    deadline = time.monotonic() + 10
    while httpx.get(f"{w.url}/customers/gdpr-0").status_code != 404 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert httpx.get(f"{w.url}/customers/gdpr-0").status_code == 404
    # gdpr-1's two commands (its timers were due with gdpr-0's): waited for, not timed (a loaded machine took >9 s)
    got = await collect(bootstrap, DELIVERY, lambda rs: sum(b'"gdpr-1"' in r.value for r in rs) >= 2, timeout=60)
    customers = Counter(orjson.loads(r.value)["customer_id"] for r in got)
    assert "gdpr-0" not in customers and customers["gdpr-1"] == 2
    tombstones = await collect(bootstrap, ["cjo.profiles-changelog", "cjo.aliases"], lambda rs: False, timeout=3)
    assert any(r.key == b"gdpr-0" and r.value is None for r in tombstones)
    assert any(r.key == b"anon-gdpr" and r.value is None for r in tombstones)


def test_a_worker_that_cannot_open_its_stores_exits_instead_of_sitting_starting(spawn: Any,
                                                                               worker_env: dict[str, str]) -> None:
    """A store that failed to open in the rebalance listener was logged by aiokafka with a traceback, and
    the worker answered /health "starting" forever; it now says which partitions and exits 70 (restart)."""
    from pathlib import Path

    w = spawn()
    w.wait_ready()
    w.stop()
    ckpt = Path(worker_env["CJO_DATA_DIR"]) / "cjo" / f"worker-{w.web_port}" / "profiles-0.checkpoint"
    ckpt.unlink()
    ckpt.mkdir()  # no file: opening the store fails (as on a volume the process cannot read)
    w.start()
    assert w.proc.wait(180) == 70, w.log()
    assert "stage 2: taking partitions 0,1,2,3 failed; stopping the process" in w.log()
