"""The adapter runner against the real broker: receipts, DLQ, expiry, idempotency across restarts/replays."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import msgspec
import orjson
import pytest

from cjo_stream import metrics
from cjo_stream.adapters.base import DeliveryResult
from cjo_stream.adapters.email import EmailChannel
from cjo_stream.adapters.in_app import InAppChannel
from cjo_stream.adapters.ratelimit import TokenBucket
from cjo_stream.adapters.retry import RetryPolicy
from cjo_stream.adapters.runner import AdapterRunner
from cjo_stream.adapters.sentlog import provider_key
from cjo_stream.adapters.signing import verify
from cjo_stream.adapters.webhook import WebhookChannel, WebhookConfig
from cjo_stream.commands import DeliveryCommand, address_digest, device_digest
from cjo_stream.config import Settings
from cjo_stream.events import format_ts
from cjo_stream.kafka.producer import make_producer
from tests.adapters.conftest import (
    Answer,
    Receiver,
    SmtpServer,
    command,
    produce,
    produce_commands,
    read_topic,
    receipts_of,
    run_until,
)
from tests.adapters.test_email import email_cfg

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, budget=30)
KEY = b"runner-key"


def make_runner(settings: Settings, channel: Any, **kw: Any) -> AdapterRunner:
    """A runner with fast retries and a short group session (Tansu makes a re-joining group wait for it)."""
    kw.setdefault("retry", FAST)
    return AdapterRunner(settings, channel, session_timeout_ms=1000, **kw)


def webhook_runner(settings: Settings, receiver: Receiver, **kw: Any) -> AdapterRunner:
    ch = WebhookChannel(WebhookConfig(url=f"{receiver.url}/hook", signing_key=KEY, timeout=kw.pop("timeout", 5)))
    return make_runner(settings, ch, **kw)


def headers_of(rec: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in rec.headers}


async def test_webhook_failure_modes_end_in_receipts_and_dlq(settings: Settings, receiver: Receiver) -> None:
    flaky, limited, bad, down, slow = (command(channel="webhook", customer_id=f"u{i}") for i in range(5))
    by_id = {c.delivery_id: c for c in (flaky, limited, bad, down, slow)}
    receiver.key_header = "Idempotency-Key"  # commands are delivered concurrently: script per delivery id
    receiver.script(flaky.delivery_id, Answer(500), Answer(200, json={"id": "p-flaky"}))
    receiver.script(limited.delivery_id, Answer(429, headers={"Retry-After": "1"}), Answer(200))
    receiver.script(bad.delivery_id, Answer(400))
    receiver.script(down.delivery_id, *[Answer(503)] * 5)
    receiver.script(slow.delivery_id, Answer(200, delay=3.0), Answer(200))
    await produce_commands(settings, list(by_id.values()))
    runner = webhook_runner(settings, receiver, timeout=1.0)
    await run_until(runner, lambda: runner.outcomes["sent"] + runner.outcomes["failed"] >= 5)

    # a 2xx is the delivery: each sent webhook also gets a `delivered` receipt with the answer, after `sent`
    records = await read_topic(settings.bootstrap, settings.receipts_topic, lambda r: len(r) >= 8)
    statuses: dict[str, list[str]] = {}
    for r in records:
        obj = msgspec.json.decode(r.value)
        statuses.setdefault(obj["delivery_id"], []).append(obj["status"])
    assert statuses == {flaky.delivery_id: ["sent", "delivered"], limited.delivery_id: ["sent", "delivered"],
                        bad.delivery_id: ["failed"], down.delivery_id: ["failed"], slow.delivery_id: ["sent", "delivered"]}
    receipts = receipts_of(records)
    assert receipts[flaky.delivery_id]["provider_message_id"] == "p-flaky"
    assert receipts[flaky.delivery_id]["attributes"] == {"attempts": 2}
    assert receipts[flaky.delivery_id]["response"] == {"status": 200, "body": {"id": "p-flaky"}}
    assert receipts[limited.delivery_id]["response"] == {"status": 200}  # an empty answer: just the status
    assert "response" not in receipts[bad.delivery_id]
    assert receipts[bad.delivery_id]["reason"] == "HTTP 400"
    assert receipts[down.delivery_id]["reason"].startswith("gave up after 3 attempts")
    assert all(r["customer_id"] == by_id[d].customer_id and r["channel"] == "webhook"
               and r["journey"] == "abandoned_cart" and r["step"] == "remind" for d, r in receipts.items())

    calls = {d: [r for r in receiver.requests if r.headers["Idempotency-Key"] == d] for d in by_id}
    assert {d: len(v) for d, v in calls.items()} == {flaky.delivery_id: 2, limited.delivery_id: 2,
                                                     bad.delivery_id: 1, down.delivery_id: 3, slow.delivery_id: 2}
    first, second = calls[limited.delivery_id]
    assert second.at - first.at >= 0.95  # Retry-After: 1 was honoured (a lower bound, never flaky)
    for reqs in calls.values():
        for r in reqs:
            assert verify(KEY, r.body, r.headers["X-CJO-Timestamp"], r.headers["X-CJO-Signature"]) is None

    dlq = await read_topic(settings.bootstrap, "cjo.delivery.webhook.dlq", lambda r: len(r) >= 2, settle=0.3)
    assert len(dlq) == 2
    reasons = {msgspec.json.decode(r.value)["delivery_id"]: headers_of(r) for r in dlq}
    assert reasons[bad.delivery_id]["cjo.reason"] == "permanent_failure"
    assert reasons[bad.delivery_id]["cjo.attempts"] == "1"
    assert reasons[bad.delivery_id]["cjo.detail"] == "HTTP 400"
    assert reasons[down.delivery_id]["cjo.reason"] == "retries_exhausted"
    assert reasons[down.delivery_id]["cjo.source.topic"] == "cjo.delivery.webhook"
    assert all(r.key is not None for r in dlq)  # the original key is kept: a replay lands in the same partition


# ---------------------------------------------------------------------------- e-mail: exactly once


class CrashAfter:
    """Wraps a channel; after ``n`` deliveries it cancels the runner's task — a crash after the sends
    (and their sent-records) but before the batch's offsets are committed."""

    def __init__(self, inner: EmailChannel, n: int) -> None:
        self.inner, self.n, self.name = inner, n, inner.name
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        result = await self.inner.deliver(cmd)
        self.n -= 1
        if self.n == 0 and self.task is not None:
            self.task.cancel()
        return result


async def test_email_exactly_once_across_crash_restart_and_replay(settings: Settings, smtp: SmtpServer) -> None:
    cmds = [command(channel="email", customer_id=f"u{i}", to=f"c{i}@example.com") for i in range(8)]
    await produce_commands(settings, cmds)

    # 1. a runner that crashes after 3 sends, before committing: nothing of the batch is committed
    crashing = CrashAfter(EmailChannel(email_cfg(smtp.port)), 3)
    runner = make_runner(settings, crashing, concurrency=1)
    crashing.task = asyncio.create_task(runner.serve())
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(crashing.task, 30)
    assert len(smtp.mailbox.messages) == 3

    # 2. restart (same group, re-reads the uncommitted batch): only the 5 others are sent
    runner = make_runner(settings, EmailChannel(email_cfg(smtp.port)))
    await run_until(runner, lambda: runner.outcomes["sent"] + runner.outcomes["duplicate"] >= 8)
    assert (runner.outcomes["sent"], runner.outcomes["duplicate"]) == (5, 3)

    # 3. upstream re-publishes the same commands, plus two new ones
    extra = [command(channel="email", customer_id="u9", to="c9@example.com"),
             command(channel="email", customer_id="u10", to="c10@example.com")]
    await produce_commands(settings, cmds + extra)
    runner = make_runner(settings, EmailChannel(email_cfg(smtp.port)))
    await run_until(runner, lambda: runner.outcomes["sent"] + runner.outcomes["duplicate"] >= 10)
    assert (runner.outcomes["sent"], runner.outcomes["duplicate"]) == (2, 8)

    # 4. a new consumer group replays the topic from offset 0: nothing is sent again
    runner = make_runner(settings, EmailChannel(email_cfg(smtp.port)), group="replay-from-zero")
    await run_until(runner, lambda: runner.outcomes["duplicate"] >= 18)
    assert runner.outcomes["sent"] == 0

    counts = smtp.mailbox.by_message_id()
    assert len(counts) == 10 and set(counts.values()) == {1}
    assert set(counts) == {f"<{c.delivery_id}@shop.example>" for c in cmds + extra}
    receipts = await read_topic(settings.bootstrap, settings.receipts_topic, lambda r: len(r) >= 10, settle=0.3)
    assert sorted(msgspec.json.decode(r.value)["status"] for r in receipts) == ["sent"] * 10
    sent_log = await read_topic(settings.bootstrap, "cjo.adapter.email.sent", lambda r: len(r) >= 20, settle=0.3)
    sends = [r for r in sent_log if not r.key.startswith(provider_key(""))]
    assert {r.key.decode() for r in sends} == {c.delivery_id for c in cmds + extra}
    # each send also under the provider's id (the Message-ID), naming its delivery id: /engagement finds it by that
    by_provider = {r.key: r.value.decode() for r in sent_log if r not in sends}
    assert by_provider == {provider_key(f"{c.delivery_id}@shop.example"): c.delivery_id for c in cmds + extra}
    assert all(b"example.com" not in r.value for r in sent_log)  # no addresses in the sent-record


# ---------------------------------------------------------------------------- expiry, bad input, duplicates


async def test_expired_and_invalid_commands_are_not_sent(settings: Settings, receiver: Receiver,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    old = command(channel="webhook", decided_at=format_ts(time.time() - 36 * 3600))  # default webhook expiry: 1 day
    explicit = command(channel="webhook", expires_at="2020-01-01T00:00:00Z")
    # decided before the sent-record's retention (webhook: 1 day + 1 day): it may have been sent and
    # forgotten, so it is neither sent nor given an "expired" receipt
    ancient = command(channel="webhook", decided_at="2020-01-01T00:00:00Z")
    fresh = command(channel="webhook")
    await produce_commands(settings, [old, explicit, ancient, fresh, fresh])  # fresh twice in one batch
    await produce(settings.bootstrap, "cjo.delivery.webhook", [(b"k", b"{not json"), (b"k", b'{"delivery_id": 1}')])
    runner = webhook_runner(settings, receiver)
    await run_until(runner, lambda: runner.outcomes["invalid"] >= 2 and runner.outcomes["sent"] >= 1
                    and runner.outcomes["expired"] >= 2 and runner.outcomes["duplicate"] >= 1
                    and runner.outcomes["stale"] >= 1)
    assert [r.headers["Idempotency-Key"] for r in receiver.requests] == [fresh.delivery_id]
    receipts = receipts_of(await read_topic(settings.bootstrap, settings.receipts_topic, lambda r: len(r) >= 4,
                                            settle=0.3))
    assert {d: r["status"] for d, r in receipts.items()} == {old.delivery_id: "expired", explicit.delivery_id: "expired",
                                                             fresh.delivery_id: "delivered"}  # after its "sent"
    dlq = await read_topic(settings.bootstrap, "cjo.delivery.webhook.dlq", lambda r: len(r) >= 2, settle=0.3)
    assert [headers_of(r)["cjo.reason"] for r in dlq] == ["invalid_command", "invalid_command"]
    assert dlq[0].value == b"{not json"  # dead-lettered unchanged
    # the stale one has no receipt and no DLQ record: the log says it was skipped (it said nothing)
    assert ["adapter webhook: skipped 1 command(s) decided more than 2 days ago, older than the sent-record keeps "
            "ids (stale: not sent, no receipt; CJO_SENT_RETENTION)"] == \
        [r.getMessage() for r in caplog.records if "stale" in r.getMessage() and r.levelname == "WARNING"]


async def test_stop_during_backoff_leaves_the_batch_for_the_next_run(settings: Settings, receiver: Receiver) -> None:
    ok, failing = command(channel="webhook", customer_id="a"), command(channel="webhook", customer_id="a")
    receiver.key_header = "Idempotency-Key"
    receiver.script(failing.delivery_id, Answer(503))  # then 200 (the default)
    await produce_commands(settings, [ok, failing])
    slow_retry = RetryPolicy(max_attempts=5, base_delay=60, max_delay=60, budget=600)
    runner = webhook_runner(settings, receiver, retry=slow_retry)
    await run_until(runner, lambda: len(receiver.requests) >= 2 and runner.outcomes["sent"] >= 1)
    # stopped while `failing` waited up to 60s for its retry: the batch was not committed
    runner = webhook_runner(settings, receiver)
    await run_until(runner, lambda: runner.outcomes["sent"] >= 1)
    assert runner.outcomes["duplicate"] == 1  # `ok` was not sent twice
    keys = [r.headers["Idempotency-Key"] for r in receiver.requests]
    assert keys.count(ok.delivery_id) == 1 and keys.count(failing.delivery_id) == 2


# ---------------------------------------------------------------------------- in-app inbox


async def test_in_app_writes_to_the_customer_inbox(settings: Settings) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        cmd = command(channel="in_app", customer_id="u7", content={"title": "Welcome", "body": "Hi!"})
        await produce_commands(settings, [cmd])
        runner = make_runner(settings, InAppChannel(producer), producer=producer)
        await run_until(runner, lambda: runner.outcomes["sent"] >= 1)
    finally:
        await producer.stop()
    [rec] = await read_topic(settings.bootstrap, "cjo.inbox", lambda r: len(r) >= 1)
    assert rec.key == b"u7"
    msg = orjson.loads(rec.value)
    assert msg["delivery_id"] == cmd.delivery_id and msg["content"] == {"title": "Welcome", "body": "Hi!"}
    receipts = receipts_of(await read_topic(settings.bootstrap, settings.receipts_topic, lambda r: len(r) >= 1))
    assert receipts[cmd.delivery_id]["provider_message_id"].startswith("cjo.inbox:")


async def test_a_delivery_topic_with_fewer_partitions_than_the_sent_record_is_held_whole(settings: Settings) -> None:
    """A worker made cjo.delivery.<channel> with one partition (its CJO_PARTITIONS), the adapter its sent-record with
    two: the one replica holds every send there is, so a provider id it does not know is final. Its 404 said the
    replica held 1 of 2 partitions and that another replica knew the rest: retry."""
    from cjo_stream.adapters.callback_ids import Unresolved, resolve
    from cjo_stream.adapters.web import Engagement
    from cjo_stream.kafka.topics import ensure_topics

    await ensure_topics(settings, [settings.delivery_topic("in_app")], partitions={settings.delivery_topic("in_app"): 1})
    producer = make_producer(settings)
    await producer.start()
    try:
        await produce_commands(settings, [command(channel="in_app", customer_id="u7", content={"title": "Hi"})])
        runner = make_runner(settings, InAppChannel(producer), producer=producer)
        answers: list[tuple[tuple[int, int], Unresolved]] = []

        def ask() -> bool:  # while it runs: a callback naming a send no one made
            if runner.outcomes["sent"] < 1:
                return False
            with pytest.raises(Unresolved) as err:
                resolve(Engagement(provider_message_id="nope", event="opened", channel="in_app"), runner.sent)
            answers.append((runner.sent.coverage(), err.value))
            return True

        await run_until(runner, ask)
        [(coverage, answer)] = answers
        assert coverage == (1, 1)
        assert answer.status == 404 and "another replica" not in answer.message, answer.message
    finally:
        await producer.stop()


class _TwoDevices:
    """A push channel whose two devices both took the message, each under its own name, and a third's app was
    uninstalled."""

    name = "push"

    async def start(self) -> None:
        return None

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        return DeliveryResult("sent", provider_message_id="fcm/tablet", other_ids=("fcm/phone",),
                              unregistered=(device_digest("old-phone"),))

    async def close(self) -> None:
        return None


async def test_the_sent_record_keeps_every_devices_message_name(settings: Settings) -> None:
    """A push two devices took: a callback may name either device's message (the phone's was unknown: 404); the
    receipt names a third device, whose app was uninstalled, by digest."""
    cmd = command(channel="push", customer_id="u7", to="tablet", also_to=["phone", "old-phone"], content={"title": "Hi"})
    await produce_commands(settings, [cmd])
    runner = make_runner(settings, _TwoDevices())
    found: list[str | None] = []

    def sent() -> bool:  # looked up while it runs: a callback naming the phone's message
        if runner.outcomes["sent"] < 1:
            return False
        hit = runner.sent.lookup(provider_message_id="fcm/phone")
        found.append(hit[0] if hit else None)
        return True

    await run_until(runner, sent)
    assert found == [cmd.delivery_id]
    # the receipt names the uninstalled device by digest (no address): its customer's profile drops it
    receipt = receipts_of(await read_topic(settings.bootstrap, settings.receipts_topic, lambda rs: len(rs) >= 1))
    assert receipt[cmd.delivery_id]["attributes"] == {"attempts": 1, "unregistered": [device_digest("old-phone")]}


async def test_a_hard_bounce_names_the_address_by_digest(settings: Settings, smtp: SmtpServer) -> None:
    """The receipt of a recipient refused with 5xx names the address it went to by digest (never the address): the
    profile remembers it, and the next send to it is skipped ``undeliverable`` (tests/engine/test_hard_bounce.py),
    even when the customer's e-mail trait changed between the send and the receipt."""
    smtp.mailbox.refuse = {"gone@example.com": "550 5.1.1 <gone@example.com>: user unknown"}
    gone, fine = (command(channel="email", customer_id="u7", to=to) for to in ("gone@example.com", "ok@example.com"))
    await produce_commands(settings, [gone, fine])
    runner = make_runner(settings, EmailChannel(email_cfg(smtp.port)))
    await run_until(runner, lambda: runner.outcomes["sent"] + runner.outcomes["bounced"] >= 2)
    receipts = receipts_of(await read_topic(settings.bootstrap, settings.receipts_topic, lambda rs: len(rs) >= 2))
    assert receipts[gone.delivery_id]["status"] == "bounced"
    assert receipts[gone.delivery_id]["attributes"] == {"attempts": 1,
                                                        "address_digest": address_digest("gone@example.com")}
    assert receipts[fine.delivery_id]["attributes"] == {"attempts": 1}  # a sent one names none
    assert "gone@example.com" not in orjson.dumps(receipts).decode()


async def test_the_sent_record_keeps_a_sends_topic(settings: Settings) -> None:
    """A newsletter's record names its topic (a provider's unsubscribe by its message id then withdraws the topic,
    not the channel: test_engagement_provider_id); the order mail's names none."""
    news, order = (command(channel="push", customer_id="u7", to="tablet", content={"title": "Hi"}, topic=t)
                   for t in ("newsletter", None))
    await produce_commands(settings, [news, order])
    runner = make_runner(settings, _TwoDevices())
    topics: dict[str, str | None] = {}

    def sent() -> bool:
        if runner.outcomes["sent"] < 2:
            return False
        for cmd in (news, order):
            hit = runner.sent.lookup(cmd.delivery_id)
            assert hit is not None
            topics[hit[0]] = hit[1].topic
        return True

    await run_until(runner, sent)
    assert topics == {news.delivery_id: "newsletter", order.delivery_id: None}


# ---------------------------------------------------------------------------- rate limit, scale-out


async def test_rate_limiter_paces_deliveries(settings: Settings, receiver: Receiver) -> None:
    def waited() -> float:
        return metrics.REGISTRY.get_sample_value("cjo_adapter_rate_limit_wait_seconds_total",
                                                 {"channel": "webhook"}) or 0.0

    before = waited()
    frozen = TokenBucket(rate=4, burst=1, clock=lambda: 0.0)  # time stands still: only reservations count
    await produce_commands(settings, [command(channel="webhook") for _ in range(3)])
    runner = webhook_runner(settings, receiver, limiter=frozen)
    await run_until(runner, lambda: runner.outcomes["sent"] >= 3)
    assert waited() - before == pytest.approx(0.25 + 0.5)  # 2nd and 3rd waited one and two token intervals
    assert len(receiver.requests) == 3


async def test_two_adapters_in_one_group_share_the_work_without_repeats(settings: Settings,
                                                                        receiver: Receiver) -> None:
    cmds = [command(channel="webhook", customer_id=f"c{i}") for i in range(40)]
    a, b = webhook_runner(settings, receiver), webhook_runner(settings, receiver)
    task_a = asyncio.create_task(a.serve())
    task_b: asyncio.Task[None] | None = None
    try:
        await produce_commands(settings, cmds[:20])
        await wait_for(lambda: a.outcomes["sent"] >= 20)
        task_b = asyncio.create_task(b.serve())  # joins the group: partitions are split between a and b
        await wait_for(lambda: len(a.assigned) == 1 and len(b.assigned) == 1)
        await produce_commands(settings, cmds[20:])
        await wait_for(lambda: a.outcomes["sent"] + b.outcomes["sent"] >= 40)
    finally:
        a.stop()
        b.stop()
        await asyncio.wait_for(asyncio.gather(task_a, *([task_b] if task_b else [])), 30)
    assert a.outcomes["sent"] > 20 and b.outcomes["sent"] > 0
    keys = [r.headers["Idempotency-Key"] for r in receiver.requests]
    assert sorted(keys) == sorted(c.delivery_id for c in cmds)  # each exactly once


async def wait_for(cond: Any, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_the_broker_watch_leaves_a_working_adapter_alone(settings: Settings, receiver: Receiver) -> None:
    """Its look at the cluster every few seconds (cjo_stream.kafka.watch) finds the adapter's topics and
    changes nothing: deliveries go on and /health stays ok with no reason."""
    cmds = [command(channel="webhook", customer_id=f"w{i}") for i in range(6)]
    runner = webhook_runner(settings, receiver)
    task = asyncio.create_task(runner.serve())
    try:
        await produce_commands(settings, cmds[:3])
        await wait_for(lambda: runner.outcomes["sent"] >= 3)
        answers = runner.watch.answers
        await wait_for(lambda: runner.watch.answers >= answers + 2, timeout=120)  # two more looks, ~10 s
        await produce_commands(settings, cmds[3:])
        await wait_for(lambda: runner.outcomes["sent"] >= 6)
        health = runner.health()
        assert not task.done()
    finally:
        runner.stop()
        await asyncio.wait_for(task, 30)
    assert health["status"] == "ok" and "reason" not in health, health
    assert runner.lost is None and runner.trouble is None
    assert sorted(r.headers["Idempotency-Key"] for r in receiver.requests) == sorted(c.delivery_id for c in cmds)


class _LagReader:
    """A channel that notes the adapter's lag gauge of its partition at each delivery."""

    name = "webhook"

    def __init__(self) -> None:
        self.seen: list[float | None] = []

    async def start(self) -> None:
        return None

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        self.seen.append(lag_of("cjo.delivery.webhook"))
        return DeliveryResult.sent(f"lag-{len(self.seen)}")

    async def close(self) -> None:
        return None


def lag_of(topic: str) -> float | None:
    """The sum of ``cjo_consumer_lag_records`` over the topic's partitions (None: no series at all)."""
    values = [s.value for m in metrics.REGISTRY.collect() if m.name == "cjo_consumer_lag_records"
              for s in m.samples if s.labels.get("topic") == topic]
    return sum(values) if values else None


async def test_an_adapter_reports_its_lag_on_the_command_topic(settings: Settings) -> None:
    """A slow adapter's backlog on cjo.delivery.<channel> showed in no metric, so CjoConsumerLagGrowing never saw it
    (drilled: an adapter behind by thousands of commands looked like one that had nothing to do)."""
    cmds = [command(channel="webhook", customer_id="lagging") for _ in range(5)]  # one partition
    await produce_commands(settings, cmds)
    ch = _LagReader()
    runner = make_runner(settings, ch, batch_max=1)  # one command per fetch: the rest wait behind it
    await run_until(runner, lambda: runner.outcomes["sent"] >= 5)
    assert ch.seen[0] == 4, ch.seen  # fetched the first, four behind it
    assert lag_of("cjo.delivery.webhook") == 0  # caught up


async def test_the_lag_gauge_grows_while_a_long_batch_is_delivered(settings: Settings, receiver: Receiver) -> None:
    """The gauge was set at a fetch only: while one batch waited on a provider for minutes it kept the fetch's
    value, and commands piling up behind it showed no lag. It follows the partition's end while a batch lasts."""
    metrics.CONSUMER_LAG.clear()  # (series of earlier tests in this process)
    hold = asyncio.Event()
    first = command(channel="webhook", customer_id="lagging")
    receiver.key_header = "Idempotency-Key"
    receiver.script(first.delivery_id, Answer(until=hold))  # the provider hangs on the first command
    await produce_commands(settings, [first])
    runner = webhook_runner(settings, receiver, timeout=600, lag_interval=0.2)
    task = asyncio.create_task(runner.serve())
    try:
        await wait_for(lambda: len(receiver.requests) >= 1)
        assert lag_of("cjo.delivery.webhook") == 0  # as fetched: nothing behind the batch
        await produce_commands(settings, [command(channel="webhook", customer_id="lagging") for _ in range(5)])
        # five behind the batch, and the batch's own command not delivered yet
        await wait_for(lambda: lag_of("cjo.delivery.webhook") == 6)
        for _ in range(3):  # (one at a time: the consumer's prefetch has stopped; ListOffsets sees them)
            await produce_commands(settings, [command(channel="webhook", customer_id="lagging")])
        await wait_for(lambda: lag_of("cjo.delivery.webhook") == 9)
        hold.set()
        await wait_for(lambda: runner.outcomes["sent"] >= 9)
        await wait_for(lambda: lag_of("cjo.delivery.webhook") == 0)
    finally:
        hold.set()
        runner.stop()
        await asyncio.wait_for(task, 30)


class _Slow:
    """A channel whose provider takes its time: a second per attempt."""

    name = "webhook"

    def __init__(self) -> None:
        self.started = 0

    async def start(self) -> None:
        return None

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        self.started += 1
        await asyncio.sleep(1.0)
        return DeliveryResult.sent(f"slow-{self.started}")

    async def close(self) -> None:
        return None


async def test_a_stop_starts_no_more_commands_of_the_batch(settings: Settings) -> None:
    """SIGTERM to an adapter whose provider hung kept it running for minutes: every command queued in the batch
    still made its attempt. A stop lets the attempts in flight finish and starts no other."""
    await produce_commands(settings, [command(channel="webhook", customer_id="slow") for _ in range(8)])
    ch = _Slow()
    runner = make_runner(settings, ch, concurrency=1)
    task = asyncio.create_task(runner.serve())
    try:
        await wait_for(lambda: ch.started >= 1)
        runner.stop()
        t0 = time.monotonic()
        await asyncio.wait_for(task, 30)
        assert time.monotonic() - t0 < 4.0  # the attempt in flight (1 s) and the close, not 7 more attempts
    finally:
        runner.stop()
    assert ch.started <= 2, ch.started


async def test_a_stop_cuts_off_a_provider_call_that_does_not_answer(settings: Settings, receiver: Receiver) -> None:
    """A stop waited for every provider call in flight however long it took (an SMTP relay blackholed: 30 s per
    step), past Kubernetes' grace period. A call gets ``stop_grace`` seconds; one cut off counts as not delivered:
    the batch is not committed and the next run sends it again, with the same idempotency key."""
    hold = asyncio.Event()
    cmd = command(channel="webhook", customer_id="hung")
    receiver.key_header = "Idempotency-Key"
    receiver.script(cmd.delivery_id, Answer(until=hold))  # hangs until the test ends; then 200 (the default)
    await produce_commands(settings, [cmd])
    runner = webhook_runner(settings, receiver, timeout=600, stop_grace=0.5)
    task = asyncio.create_task(runner.serve())
    try:
        await wait_for(lambda: len(receiver.requests) >= 1)
        runner.stop()
        await asyncio.wait_for(task, 30)  # (without the cut: the 600 s of the channel's timeout)
        assert runner.outcomes["sent"] == 0
        again = webhook_runner(settings, receiver)
        await run_until(again, lambda: again.outcomes["sent"] >= 1)
    finally:
        hold.set()
        runner.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task, 30)
    assert [r.headers["Idempotency-Key"] for r in receiver.requests] == [cmd.delivery_id] * 2


async def test_a_stop_starts_no_attempt_after_it(settings: Settings, receiver: Receiver) -> None:
    """A command waiting behind another of the same ``delivery_id`` in its batch made its attempt after the stop
    once the first failed: no provider call starts after a stop."""
    hold = asyncio.Event()
    cmd = command(channel="webhook", customer_id="twice")
    receiver.key_header = "Idempotency-Key"
    receiver.script(cmd.delivery_id, Answer(503, until=hold))  # then 200 (the default)
    await produce_commands(settings, [cmd, cmd])  # (a producer's retry can write a command twice)
    runner = webhook_runner(settings, receiver)
    task = asyncio.create_task(runner.serve())
    try:
        await wait_for(lambda: len(receiver.requests) >= 1)
        runner.stop()
        hold.set()  # the first attempt fails now, after the stop: the copy behind it must not start
        await asyncio.wait_for(task, 30)
    finally:
        hold.set()
        runner.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task, 30)
    assert len(receiver.requests) == 1
    assert runner.outcomes["sent"] == 0


async def test_a_rebalance_does_not_wait_out_a_batch_in_backoff(settings: Settings, receiver: Receiver) -> None:
    """A second adapter joining the group waited for the first one's batch, which waited out a provider's backoff:
    every adapter of the group stood idle up to the retry budget (300 s) at each pod start in a rolling restart. The
    batch is given up at the rebalance instead; what it left undone is sent by the partitions' owner, once."""
    cmds = [command(channel="webhook", customer_id=f"c{i}") for i in range(8)]
    failing = cmds[0]
    receiver.key_header = "Idempotency-Key"
    receiver.script(failing.delivery_id, Answer(503, headers={"Retry-After": "120"}))  # then 200 (the default)
    slow_retry = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05, budget=600)
    a, b = webhook_runner(settings, receiver, retry=slow_retry), webhook_runner(settings, receiver, retry=slow_retry)
    await produce_commands(settings, cmds)
    task_a = asyncio.create_task(a.serve())
    task_b: asyncio.Task[None] | None = None
    try:
        await wait_for(lambda: a.outcomes["sent"] >= 7)  # `failing` waits up to 120 s for its retry
        task_b = asyncio.create_task(b.serve())
        # (without giving the batch up: not before a's backoff ends, 120 s on)
        await wait_for(lambda: len(a.assigned) == 1 and len(b.assigned) == 1, timeout=60)
        await wait_for(lambda: a.outcomes["sent"] + b.outcomes["sent"] >= 8, timeout=60)
    finally:
        a.stop()
        b.stop()
        await asyncio.wait_for(asyncio.gather(task_a, *([task_b] if task_b else [])), 30)
    keys = [r.headers["Idempotency-Key"] for r in receiver.requests]
    assert sorted(set(keys)) == sorted(c.delivery_id for c in cmds)
    assert keys.count(failing.delivery_id) == 2 and len(keys) == 9  # the rest once each: the sent-record


async def test_a_call_that_never_returns_is_cut_and_retried(settings: Settings) -> None:
    """A channel of your own without a timeout (an SDK's call that never returns) held its batch, and so every
    partition of the adapter, for ever while /health said ok: the call is cut after CJO_ADAPTER_ATTEMPT_TIMEOUT."""

    class HangsOnce:
        name = "myco_whatsapp"

        def __init__(self) -> None:
            self.calls = 0

        async def start(self) -> None:
            return None

        async def close(self) -> None:
            return None

        async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
            self.calls += 1
            if self.calls == 1:
                await asyncio.Event().wait()
            return DeliveryResult.sent(f"w-{self.calls}")

    cmd = command(channel="myco_whatsapp")
    await produce_commands(settings, [cmd])
    channel = HangsOnce()
    runner = make_runner(settings, channel, attempt_timeout=0.5)
    await run_until(runner, lambda: runner.outcomes["sent"] >= 1)
    records = await read_topic(settings.bootstrap, settings.receipts_topic, lambda r: len(r) >= 1)
    receipt = receipts_of(records)[cmd.delivery_id]
    assert (receipt["status"], receipt["provider_message_id"], receipt["attributes"]) == ("sent", "w-2", {"attempts": 2})


async def test_commands_given_up_are_a_few_lines_not_one_each(settings: Settings, receiver: Receiver,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """A provider refusing everything (revoked credentials) logged a warning per command of the backlog: the first
    give-up is logged with its reason, the others in one line naming the dead-letter topic where each is."""
    bad = [command(channel="webhook", customer_id=f"u{i}") for i in range(6)]
    receiver.key_header = "Idempotency-Key"
    for c in bad:
        receiver.script(c.delivery_id, Answer(400))
    await produce_commands(settings, bad)
    runner = webhook_runner(settings, receiver)
    with caplog.at_level(logging.INFO, logger="cjo_stream.adapters.runner"):
        await run_until(runner, lambda: runner.outcomes["failed"] >= 6)
    lines = [r.getMessage() for r in caplog.records if "permanent_failure" in r.getMessage()]
    assert runner.outcomes["dead_lettered"] == 6
    assert len(lines) == 2, lines
    assert lines[0].startswith("delivery ") and lines[0].endswith(" permanent_failure: HTTP 400"), lines
    assert lines[1].startswith("adapter webhook: 5 more command(s) given up (permanent_failure) in the last "), lines
    assert "each is on cjo.delivery.webhook.dlq (cjo-stream dlq --topic cjo.delivery.webhook.dlq)" in lines[1]


async def test_retries_are_not_a_line_each_at_the_default_level(settings: Settings, receiver: Receiver,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """Each retry was an INFO line, the adapter's default level: a provider down wrote one per attempt of every
    command of the backlog. They are counted in cjo_adapter_retries_total; the give-up line says the reason."""
    down = command(channel="webhook", customer_id="u1")
    receiver.key_header = "Idempotency-Key"
    receiver.script(down.delivery_id, *[Answer(503)] * 5)
    runner = webhook_runner(settings, receiver)
    await produce_commands(settings, [down])
    with caplog.at_level(logging.INFO, logger="cjo_stream.adapters.runner"):
        await run_until(runner, lambda: runner.outcomes["failed"] >= 1)
    assert len([r for r in receiver.requests if r.headers["Idempotency-Key"] == down.delivery_id]) == 3
    assert not [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert [r.getMessage() for r in caplog.records if down.delivery_id in r.getMessage()] == [
        f"delivery {down.delivery_id} retries_exhausted: gave up after 3 attempts: HTTP 503"]
