"""Workers tell adapters about consent withdrawn or given back, and erasures (``cjo.consent-changes``), so a
command already on a delivery topic is held back (cjo_stream.adapters.withheld). Stage 2 without a broker."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import orjson
import pytest

from cjo_stream import metrics
from cjo_stream.adapters.email import EmailChannel
from cjo_stream.commands import address_digest
from cjo_stream.events import format_ts
from tests.adapters.conftest import run_until, smtp_server
from tests.adapters.test_email import email_cfg
from tests.adapters.test_runner import make_runner
from tests.runtime.conftest import collect, event_line, keyed, produce, settings_for
from tests.runtime.test_aliases import BASE, TOPOLOGY, Cluster, InputRec, line, visit
from tests.runtime.test_e2e import scenario


def changes(c: Cluster) -> list[tuple[str, list[str], bool]]:
    out = []
    for key, value in c.topics[c.s.consent_changes_topic]:
        ch = orjson.loads(value or b"")
        assert key == ch["customer_id"].encode()
        out.append((ch["customer_id"], ch.get("withdrawn", []), ch.get("erased", False)))
    return out


def test_a_withdrawal_is_told_for_the_customer_and_its_merged_ids_then_consent_given_back_and_erasure() -> None:
    c = Cluster(seed=1)
    anon, known = visit(1)
    for x in anon + known:
        c.send(x)
    c.drain()
    assert changes(c) == []  # no consent changed
    c.send(line(messageId="u1", type="track", event="unsubscribed", userId="user-1", timestamp=format_ts(BASE + 1),
                properties={"channel": "Email"}))
    c.drain()
    assert changes(c) == [("user-1", ["email"], False), ("anon-1", ["email"], False)]
    c.topics[c.s.consent_changes_topic].clear()
    # repeated: nothing new; every channel withdrawn; then e-mail given back (sms, push, in_app stay withdrawn)
    c.send(line(messageId="u2", type="track", event="unsubscribed", userId="user-1", timestamp=format_ts(BASE + 2),
                properties={"channel": "email"}))
    c.drain()
    assert changes(c) == []
    c.send(line(messageId="u3", type="identify", userId="user-1", timestamp=format_ts(BASE + 3),
                traits={"consent": False}))
    c.drain()
    assert changes(c)[0] == ("user-1", ["email", "in_app", "push", "sms"], False)
    c.topics[c.s.consent_changes_topic].clear()
    c.send(line(messageId="u4", type="track", event="subscribed", userId="user-1", timestamp=format_ts(BASE + 4),
                properties={"channel": "email"}))
    c.drain()
    assert changes(c)[0] == ("user-1", ["in_app", "push", "sms"], False)
    c.topics[c.s.consent_changes_topic].clear()
    c.erase("user-1")
    c.drain()
    assert sorted(changes(c)) == [("anon-1", [], True), ("user-1", [], True)]


def test_a_topic_unsubscribe_is_told_as_the_topic_not_a_channel() -> None:
    """The adapters hold back the newsletter already on cjo.delivery.email, and only the newsletter."""
    c = Cluster(seed=1, policies=replace(TOPOLOGY.policies, topics=(("newsletter", "opt_out"),)))
    c.send(line(messageId="t1", type="track", event="unsubscribed", userId="user-1", timestamp=format_ts(BASE + 1),
                properties={"topic": "newsletter"}))
    c.drain()
    [ch] = [orjson.loads(v or b"") for _, v in c.topics[c.s.consent_changes_topic]]
    assert ch == {"customer_id": "user-1", "at": ch["at"], "topics": ["newsletter"]}  # no channel withdrawn


def test_the_change_is_written_after_the_batchs_commands() -> None:
    """An erasure holds back commands written before it (by Kafka timestamp): a batch's own commands must be
    added to the outbox before its changes (the erasure's record comes after the timer's in this batch, but
    ``_erased`` runs as the record is applied)."""
    c = Cluster(seed=2)
    for x in [line(messageId="i", type="identify", userId="user-3", timestamp=format_ts(BASE),
                   traits={"email": "user-3@example.com"}),
              line(messageId="c", type="track", event="cart_item_added", userId="user-3", timestamp=format_ts(BASE),
                   properties={"cart_value": 45, "product_name": "Lamp"})]:
        c.send(x)
    c.drain()
    part = c.part_of("user-3")
    queue = c.queues[c.parts.index(part)]
    part.behind = False
    assert part.due_timers(BASE + 100, c) == 1  # type: ignore[arg-type]  # the reminder's timer
    c.erase("user-3")
    batch = list(queue)
    queue.clear()
    order: list[str] = []
    add = c.add

    def spy(topic: str, key: bytes | None, value: bytes | None, **kw: object) -> None:
        order.append(topic)
        add(topic, key, value, **kw)  # type: ignore[arg-type]

    c.add = spy  # type: ignore[method-assign]
    part.process(batch, c.now, c, metrics.BatchCounts())  # type: ignore[arg-type]
    assert order.count(c.s.delivery_topic("email")) == 1 and order.count(c.s.consent_changes_topic) == 1
    assert order.index(c.s.delivery_topic("email")) < order.index(c.s.consent_changes_topic)
    assert changes(c) == [("user-3", [], True)]


@pytest.mark.broker
async def test_an_unsubscribe_after_the_command_was_written_stops_a_lagging_adapter_live(
        spawn: Any, worker_env: dict[str, str]) -> None:
    """The worker decides a reminder while the e-mail adapter is down; the customer unsubscribes; the adapter
    starts: the reminder is not sent (it was, until the adapters read cjo.consent-changes)."""
    w = spawn()
    w.wait_ready()
    bootstrap = worker_env["CJO_BROKER"]
    s = settings_for(worker_env)
    await produce(bootstrap, "cjo.touchpoints", keyed(scenario(2, time.time())))  # shopper-1 abandons its cart
    emails = await collect(bootstrap, ["cjo.delivery.email"], lambda rs: len(rs) >= 1, timeout=30)
    cid = orjson.loads(emails[0].value)["customer_id"]
    await produce(bootstrap, "cjo.touchpoints", keyed([event_line(
        messageId="unsub", type="track", event="unsubscribed", userId=cid, timestamp=format_ts(time.time()),
        properties={"channel": "email"})]))
    told = await collect(bootstrap, [s.consent_changes_topic], lambda rs: len(rs) >= 1, timeout=30)
    assert orjson.loads(told[0].value)["withdrawn"] == ["email"]
    with smtp_server() as smtp:
        runner = make_runner(s, EmailChannel(email_cfg(smtp.port)))
        await run_until(runner, lambda: runner.outcomes["withheld"] >= 1)
        await asyncio.sleep(0.5)
        assert smtp.mailbox.messages == [] and runner.outcomes["sent"] == 0


def test_a_hard_bounce_and_its_clearing_are_told_by_digest() -> None:
    """A command already queued to the address that bounced is held back by the adapters (``bounced``, the
    address's digest, never the address); the customer's ``bounce_cleared`` writes the list again without it."""
    c = Cluster(seed=1)
    c.send(line(messageId="i1", type="identify", userId="user-1", timestamp=format_ts(BASE),
                traits={"email": "Ann@example.com"}))
    receipt = line(delivery_id="d1", customer_id="user-1", channel="email", status="bounced",
                   at=format_ts(BASE + 1), reason="SMTP 550: user unknown",
                   attributes={"address_digest": address_digest("ann@example.com")})
    c.ingest.process([InputRec(c.s.receipts_topic, 0, 0, None, receipt, [])], c)  # type: ignore[arg-type]
    c.drain()
    told = [orjson.loads(v or b"") for _, v in c.topics[c.s.consent_changes_topic]]
    assert [(t["customer_id"], t.get("withdrawn"), t["bounced"]) for t in told] == \
        [("user-1", None, [f"email:{address_digest('ann@example.com')}"])]
    assert "Ann@example.com" not in str(told) and "ann@example.com" not in str(told)
    c.topics[c.s.consent_changes_topic].clear()
    c.send(line(messageId="u1", type="track", event="bounce_cleared", userId="user-1", timestamp=format_ts(BASE + 2),
                properties={"channel": "email"}))
    c.drain()
    [cleared] = [orjson.loads(v or b"") for _, v in c.topics[c.s.consent_changes_topic]]
    assert cleared == {"customer_id": "user-1", "at": cleared["at"]}  # nothing withdrawn, nothing bounced
