"""A webhook's answer in its receipt, and a journey branching on it: loopback HTTP receiver → webhook
channel → the receipt the runner writes → the event the ingest stage makes of it → the engine."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import msgspec
import orjson
import pytest

from cjo_stream.adapters.base import attempt
from cjo_stream.adapters.response import MAX_BODY_BYTES, response_summary
from cjo_stream.adapters.retry import RetryPolicy, run_with_retries
from cjo_stream.adapters.webhook import WebhookChannel, WebhookConfig
from cjo_stream.commands import DeliveryCommand, Receipt
from cjo_stream.engine import Engine
from cjo_stream.events import decode_event, format_ts
from cjo_stream.receipts import receipt_record_event
from cjo_stream.simulator import Simulator
from tests.adapters.conftest import Answer, Receiver, command
from tests.conftest import T0, ev, journey

SCORING = """
journey: lead_scoring
entry: {event: signed_up}
steps:
  - id: score
    send: {channel: webhook, to: "{{ event.properties.hook }}", content: {body: "{{ profile.traits | json }}"}}
  - id: wait_score
    wait_for: {event: message_delivered, timeout: 10m,
               when: event.properties.journey == journey.id and event.properties.response.body.score >= 80}
    on_event: hot
    on_timeout: nurture
  - id: hot
    send: {channel: slack, to: "https://hooks.example/sales", content: {text: "hot lead {{ profile.customer_id }}"}}
    next: end
  - id: nurture
    send: {channel: email, content: {subject: "Getting started", body: "Hi"}}
"""


async def delivered_receipt(receiver: Receiver, cmd: DeliveryCommand) -> bytes:
    """What the adapter runner writes to the receipts topic after the webhook call (its ``delivered``)."""
    ch = WebhookChannel(WebhookConfig(timeout=5, allow_private=True))  # the receiver is on loopback
    await ch.start()
    try:
        out = await run_with_retries(lambda: attempt(ch, cmd), RetryPolicy(max_attempts=2), sleep=asyncio.sleep,
                                     rng=random.Random(0))
    finally:
        await ch.close()
    r = out.result
    assert r.outcome == "sent" and r.response is not None
    receipt = Receipt(delivery_id=cmd.delivery_id, customer_id=cmd.customer_id, channel=cmd.channel,
                      status="delivered", at=format_ts(T0 + 30), journey=cmd.journey, step=cmd.step,
                      provider_message_id=r.provider_message_id, response=r.response)
    return msgspec.json.encode(receipt)


@pytest.mark.parametrize(("score", "branch"), [(91, "hot"), (40, "nurture")])
async def test_journey_branches_on_the_score_the_webhook_answered(receiver: Receiver, score: int,
                                                                  branch: str) -> None:
    sim = Simulator(Engine([journey(SCORING)]))
    sim.handle(ev("identify", T0, type="identify", traits={"email": "a@example.com", "plan": "pro"}))
    sim.handle(ev("signed_up", T0 + 1, props={"hook": f"{receiver.url}/lead"}))
    (cmd,) = sim.commands
    assert cmd.channel == "webhook" and cmd.to == f"{receiver.url}/lead"
    receiver.script("/lead", Answer(200, json={"score": score, "tier": "a"}))
    raw = await delivered_receipt(receiver, cmd)
    (req,) = receiver.seen("/lead")
    assert orjson.loads(req.body)["content"]["body"] == '{"email":"a@example.com","plan":"pro"}'
    event = decode_event(receipt_record_event(raw))  # as the ingest stage turns the receipt into an event
    assert event.name == "message_delivered"
    assert event.properties["response"] == {"status": 200, "body": {"score": score, "tier": "a"}}
    sim.handle(event)
    sim.finish()
    assert [c.step for c in sim.commands] == ["score", branch]


async def test_answer_without_a_usable_body_keeps_the_status_and_says_why(receiver: Receiver) -> None:
    big = {"pad": "x" * MAX_BODY_BYTES}
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    cases = [
        (Answer(200, json=big), {"status": 200, "omitted": "too_large"}),
        (Answer(202, text="accepted"), {"status": 202, "omitted": "not_json"}),
        (Answer(200, json=deep), {"status": 200, "omitted": "too_deep"}),
        (Answer(204), {"status": 204}),
        (Answer(201, json={"score": 3}), {"status": 201, "body": {"score": 3}}),
    ]
    ch = WebhookChannel(WebhookConfig(url=f"{receiver.url}/r", timeout=5))
    await ch.start()
    try:
        for answer, want in cases:
            receiver.script("/r", answer)
            r = await ch.deliver(command(channel="webhook"))
            assert r.outcome == "sent" and r.response is not None
            got = {k: v for k, v in r.response.items() if k != "size"}
            assert got == want
            if "omitted" in want:
                assert r.response["size"] > 0
    finally:
        await ch.close()


def test_summary_rules() -> None:
    assert response_summary(200, b"") == {"status": 200}
    assert response_summary(200, b"NaN")["omitted"] == "not_json"
    assert response_summary(200, b" [1, 2] ") == {"status": 200, "body": [1, 2]}
    exactly = b'"' + b"y" * (MAX_BODY_BYTES - 2) + b'"'
    assert response_summary(200, exactly)["body"] == "y" * (MAX_BODY_BYTES - 2)
    assert response_summary(200, exactly + b" ")["body"]  # trailing whitespace is not counted
    assert response_summary(200, b'"' + exactly + b'"')["omitted"] == "too_large"
