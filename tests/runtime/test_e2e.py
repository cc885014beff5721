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


STAGES_YAML = """\
stages:
  - {stage: awareness, when: "true"}
  - {stage: consideration, when: profile.counters.cart_item_added >= 1}
  - {stage: purchase, when: profile.counters.order_completed >= 1}
"""
STAGE_JOURNEY = """\
journey: stage_note
entry: {event: stage_changed}
re_entry: always
steps:
  - id: note
    send: {channel: in_app, content: {body: "{{ event.properties.from }} -> {{ profile.stage }}"}}
"""


async def test_lifecycle_stages_live_match_the_simulator_with_state_api_and_metrics(
        spawn: Any, worker_env: dict[str, str], tmp_path: Any) -> None:
    import shutil

    import httpx

    from cjo_stream.promtext import sums

    topo_dir = tmp_path / "topologies"
    shutil.copytree(os.path.join(ROOT, "tests", "runtime", "topologies"), topo_dir)
    (topo_dir / "stages.yaml").write_text(STAGES_YAML)
    (topo_dir / "journeys" / "stage_note.yaml").write_text(STAGE_JOURNEY)
    secret = "stages-test-secret-0123456789"
    w = spawn(CJO_TOPOLOGIES=str(topo_dir), CJO_API_TOKENS=f"tester:read:{secret}")
    w.wait_ready()
    now = time.time()
    lines = scenario(10, now)
    lines += [event_line(messageId=f"ord-{i}", type="track", event="order_completed", userId=f"shopper-{i}",
                         timestamp=format_ts(now + 1)) for i in range(0, 10, 2)]
    topo = load_topology(str(topo_dir))
    sim = Simulator(Engine(topo.journeys, topo.policies, stages=topo.stages))
    for line in lines:
        sim.handle(decode_event(line))
    sim.finish()
    expected: dict[str, dict[str, Any]] = {c.delivery_id: {"channel": c.channel, "customer": c.customer_id, "step": c.step, "content": c.content}
                for c in sim.commands}
    notes = sorted(c["content"]["body"] for c in expected.values() if c["step"] == "note")
    assert notes == ["awareness -> consideration"] * 10 + ["consideration -> purchase"] * 5
    await produce(worker_env["CJO_BROKER"], "cjo.touchpoints", keyed(lines))
    got = await collect(worker_env["CJO_BROKER"], DELIVERY, lambda rs: len(rs) >= len(expected), timeout=40)
    assert by_id(got) == expected and len(got) == len(expected)
    async with httpx.AsyncClient(base_url=w.url, headers={"Authorization": f"Bearer {secret}"}) as c:
        body = (await c.get("/customers/shopper-0")).json()["profile"]
        assert body["stage"] == "purchase" and body["stage_since"] == format_ts(int(now + 1))
        assert (await c.get("/customers/shopper-1")).json()["profile"]["stage"] == "consideration"
        text = (await c.get("/metrics")).text
    assert 'cjo_stage_transitions_total{from="awareness",to="consideration"} 10.0' in text
    assert 'cjo_stage_transitions_total{from="consideration",to="purchase"} 5.0' in text
    assert sums(text)["cjo_stage_customers"] == 10  # ten new customers, all still here
    assert 'cjo_stage_customers{stage="consideration"} 5.0' in text
    # the stage moves are journey events too (for the analytics service): compact, with source positions
    # that keep increasing after the record's transitions, so a fold that drops replays keeps them all
    from cjo_stream.analytics import records
    from cjo_stream.analytics.fold import Analytics
    from cjo_stream.analytics.offline import stage_flow

    assert topo.stages is not None
    recs = await collect(worker_env["CJO_BROKER"], ["cjo.journey-events"],
                         lambda rs: sum(b'"kind":"stage"' in r.value for r in rs) >= 25, timeout=20)
    stage_recs = [orjson.loads(r.value) for r in recs if b'"kind":"stage"' in r.value]
    assert len(stage_recs) == 25  # 10 new customers, 10 considerers, 5 buyers
    assert all(set(r) == {"kind", "customer_id", "at", "from", "to", "src"} - ({"from"} if r["to"] == "awareness"
                                                                              else set()) for r in stage_recs)
    live = Analytics()
    live.apply_all(records.decode(r.value) for r in recs)
    assert live.duplicates == 0 and stage_flow(live, topo.stages.names) == stage_flow(sim.analytics, topo.stages.names)


SCORING_JOURNEY = """\
journey: lead_scoring
entry: {event: signed_up}
steps:
  - id: score
    send: {channel: webhook, to: "{{ event.properties.hook }}", content: {body: "{{ profile.traits | json }}"}}
  - id: wait_score
    wait_for: {event: message_delivered, when: "event.properties.journey == journey.id and event.properties.response.body.score >= 80", timeout: 6s}
    on_event: hot
    on_timeout: nurture
  - id: hot
    send: {channel: in_app, content: {body: "hot"}}
    next: end
  - id: nurture
    send: {channel: in_app, content: {body: "nurture"}}
"""


async def test_webhook_answer_comes_back_as_a_receipt_and_decides_the_branch(
        spawn: Any, worker_env: dict[str, str], tmp_path: Any) -> None:
    """Live: worker → webhook adapter → HTTP receiver on loopback → delivered receipt with the answer →
    worker → the branch the score picks."""
    import asyncio as aio

    from cjo_stream.adapters.retry import RetryPolicy
    from cjo_stream.adapters.runner import AdapterRunner
    from cjo_stream.adapters.webhook import WebhookChannel, WebhookConfig
    from cjo_stream.config import Settings
    from tests.adapters.conftest import Answer, Receiver

    topo_dir = tmp_path / "topologies"
    (topo_dir / "journeys").mkdir(parents=True)
    (topo_dir / "journeys" / "lead_scoring.yaml").write_text(SCORING_JOURNEY)
    receiver = await Receiver().start()
    receiver.script("/lead/hot-1", Answer(200, json={"score": 91}))
    receiver.script("/lead/cold-1", Answer(200, json={"score": 40}))
    w = spawn(CJO_TOPOLOGIES=str(topo_dir))
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]
    runner = AdapterRunner(Settings(bootstrap=bootstrap, partitions=int(worker_env["CJO_PARTITIONS"])),
                           WebhookChannel(WebhookConfig(timeout=5, allow_private=True)), session_timeout_ms=1000,
                           retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05, budget=10))
    task = aio.create_task(runner.serve())
    try:
        ts = format_ts(time.time())
        lines = [event_line(messageId=f"su-{u}", type="track", event="signed_up", userId=u, timestamp=ts,
                            traits={"plan": "pro"}, properties={"hook": f"{receiver.url}/lead/{u}"})
                 for u in ("hot-1", "cold-1")]
        await produce(bootstrap, "cjo.touchpoints", keyed(lines))
        got = await collect(bootstrap, ["cjo.delivery.in_app"], lambda rs: len(rs) >= 2, timeout=40)
    finally:
        runner.stop()
        await aio.wait_for(task, 30)
        await receiver.stop()
    assert {orjson.loads(r.value)["customer_id"]: orjson.loads(r.value)["content"]["body"] for r in got} == {
        "hot-1": "hot", "cold-1": "nurture"}
    assert sorted(r.path for r in receiver.requests) == ["/lead/cold-1", "/lead/hot-1"]
