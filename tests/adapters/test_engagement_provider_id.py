"""``POST /engagement`` by the provider's message id: providers' webhooks (SendGrid, Mailgun, Twilio) name the
message by their own id, which the adapter recorded in its sent-record with whose send it was. The callback needed
our ``delivery_id`` and ``customer_id``, which the provider never had; now the provider's id alone finds the send
(also after a restart, from the topic), and the receipt carries the send's journey and step."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import orjson
import pytest

from cjo_stream.adapters.callback_ids import Unresolved, resolve
from cjo_stream.adapters.runner import track_topics
from cjo_stream.adapters.sentlog import SentLog, SentRecord, sent_topic
from cjo_stream.adapters.web import Engagement, build_app, to_receipt
from cjo_stream.config import Settings
from cjo_stream.events import decode_event
from cjo_stream.kafka.producer import make_producer
from cjo_stream.kafka.topics import ensure_topics
from cjo_stream.profile import apply_event, new_profile
from cjo_stream.receipts import receipt_event
from cjo_stream.serving import bound_port, start_site
from tests.adapters.conftest import read_topic, receipts_of

AT = "2026-12-01T10:00:00Z"


async def post(url: str, payload: Any) -> httpx.Response:
    async with httpx.AsyncClient() as c:  # unsigned: from loopback
        return await c.post(f"{url}/engagement", content=orjson.dumps(payload),
                            headers={"Content-Type": "application/json"})


@pytest.fixture
async def sent(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[Settings, SentLog]]:
    """A sent-record of two sends (one per partition), as the runner writes them, read back by a second SentLog
    (a restarted adapter) owning both partitions."""
    await ensure_topics(settings, [settings.receipts_topic])
    producer = make_producer(settings)
    await producer.start()
    await track_topics(producer, [settings.receipts_topic])
    writer = SentLog(settings, sent_topic("email"), producer, keep=86400.0)
    await writer.start()
    await writer.catch_up([0, 1])
    for p, (did, cid, pid, topic) in enumerate([("d-welcome", "u1", "sg-1", None),
                                                 ("d-news", "u2", "sg-2", "newsletter")]):
        await (await writer.record(did, AT, pid, p, customer_id=cid, channel="email", journey=did[2:], step="mail",
                                   topic=topic))
    assert writer.lookup(provider_message_id="sg-2") == ("d-news", SentRecord(
        at=AT, provider_message_id="sg-2", customer_id="u2", channel="email", journey="news", step="mail",
        topic="newsletter"))
    await writer.close()
    restarted = SentLog(settings, sent_topic("email"), producer, keep=86400.0, state_dir=str(tmp_path / "s"))
    await restarted.start()
    await restarted.catch_up([0, 1])
    try:
        yield settings, restarted
    finally:
        await restarted.close()
        await producer.stop()


async def test_a_callback_by_the_providers_id_is_the_receipt_of_that_send(sent: tuple[Settings, SentLog]) -> None:
    settings, log = sent
    producer = make_producer(settings)
    await producer.start()
    site = await start_site(build_app(producer, settings.receipts_topic, sent=log), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{bound_port(site)}"
    try:
        # (an e-mail's Message-ID comes back in angle brackets: SendGrid's smtp-id)
        r = await post(url, {"provider_message_id": "<sg-1>", "event": "opened", "at": "2026-12-01T10:05:00Z"})
        assert r.status_code == 202, r.text
        # our own ids without journey and step: filled in from the record, so a journey can tell its own send
        r = await post(url, {"delivery_id": "d-news", "customer_id": "u2", "event": "clicked", "url": "https://x/a"})
        assert r.status_code == 202, r.text
        # unknown, neither id, a customer that is not the send's: told, nothing written
        r = await post(url, [{"provider_message_id": "sg-1", "event": "opened"},
                             {"provider_message_id": "sg-404", "event": "opened"}])
        assert r.status_code == 404 and r.json()["error"] == (
            "event 2 of 2: unknown provider_message_id 'sg-404': no send of this adapter within the sent-record's "
            "retention (CJO_SENT_RETENTION) has it"), r.text
        r = await post(url, {"delivery_id": "d-gone", "event": "opened"})
        assert r.status_code == 404 and "unknown delivery_id 'd-gone'" in r.json()["error"]
        r = await post(url, {"customer_id": "u1", "event": "opened"})
        assert r.status_code == 400 and r.json()["error"] == (
            "invalid engagement payload: give delivery_id (with customer_id) or provider_message_id: which message is "
            "it about?")
        r = await post(url, {"provider_message_id": "sg-1", "customer_id": "u2", "event": "unsubscribed"})
        assert r.status_code == 400 and "customer_id is not the customer delivery d-welcome was sent to" in r.text
        # an e-mail's callback naming another channel: its unsubscribe withdrew consent for that one (was 202)
        r = await post(url, {"provider_message_id": "sg-1", "event": "unsubscribed", "channel": "push"})
        assert r.status_code == 400 and r.json()["error"] == (
            "invalid engagement payload: channel 'push' is not the channel delivery d-welcome was sent on ('email')")
    finally:
        await site.cleanup()
        await producer.stop()
    receipts = receipts_of(await read_topic(settings.bootstrap, settings.receipts_topic, lambda rs: len(rs) >= 2,
                                            settle=0.5))
    assert receipts == {
        "d-welcome": {"delivery_id": "d-welcome", "customer_id": "u1", "channel": "email", "status": "opened",
                      "at": "2026-12-01T10:05:00Z", "journey": "welcome", "step": "mail",
                      "provider_message_id": "sg-1"},
        "d-news": {"delivery_id": "d-news", "customer_id": "u2", "channel": "email", "status": "clicked",
                   "at": receipts["d-news"]["at"], "journey": "news", "step": "mail", "provider_message_id": "sg-2",
                   "attributes": {"url": "https://x/a"}, "topic": "newsletter"}}


async def test_a_providers_unsubscribe_of_a_newsletter_names_its_topic(sent: tuple[Settings, SentLog]) -> None:
    """An ESP's own unsubscribe webhook names the message by its id alone, no topic: its receipt withdrew the whole
    channel (order mail stopped too). The sent-record, read back after a restart, keeps the send's topic; the
    receipt names it; a callback naming another topic is refused; a send of no topic stays a channel's."""
    settings, log = sent
    producer = make_producer(settings)
    await producer.start()
    site = await start_site(build_app(producer, settings.receipts_topic, sent=log), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{bound_port(site)}"
    try:
        r = await post(url, {"provider_message_id": "sg-2", "event": "unsubscribed", "topic": "offers"})
        assert r.status_code == 400 and r.json()["error"] == (
            "invalid engagement payload: topic 'offers' is not the topic of delivery d-news ('newsletter')"), r.text
        r = await post(url, [{"provider_message_id": "<sg-2>", "event": "unsubscribed", "at": AT},
                             {"provider_message_id": "sg-1", "event": "unsubscribed", "at": AT}])
        assert r.status_code == 202, r.text
    finally:
        await site.cleanup()
        await producer.stop()
    receipts = receipts_of(await read_topic(settings.bootstrap, settings.receipts_topic, lambda rs: len(rs) >= 2,
                                            settle=0.5))
    assert {did: (r["status"], r.get("topic")) for did, r in receipts.items()} == {
        "d-news": ("unsubscribed", "newsletter"), "d-welcome": ("unsubscribed", None)}


async def test_every_recipients_id_of_a_send_finds_it(settings: Settings) -> None:
    """A push to two devices: FCM names the message to each; the sent-record keeps both names for the send, and
    the receipt of a callback by the second device's name carries that name (it carried the first device's)."""
    await ensure_topics(settings, [settings.receipts_topic])
    producer = make_producer(settings)
    await producer.start()
    await track_topics(producer, [settings.receipts_topic])
    log = SentLog(settings, sent_topic("push"), producer, keep=86400.0)
    site = None
    try:
        await log.start()
        await log.catch_up([0, 1])
        await (await log.record("d-push", AT, "fcm/1", 0, customer_id="u1", channel="push", journey="j", step="s",
                                other_ids=("fcm/2",)))
        assert log.lookup(provider_message_id="fcm/2") == log.lookup(provider_message_id="fcm/1") == ("d-push", SentRecord(
            at=AT, provider_message_id="fcm/1", customer_id="u1", channel="push", journey="j", step="s"))
        site = await start_site(build_app(producer, settings.receipts_topic, sent=log, default_channel="push"), "127.0.0.1", 0)
        r = await post(f"http://127.0.0.1:{bound_port(site)}", {"provider_message_id": "fcm/2", "event": "opened",
                                                                 "at": "2026-12-01T10:05:00Z"})
        assert r.status_code == 202, r.text
    finally:
        if site is not None:
            await site.cleanup()
        await log.close()
        await producer.stop()
    receipts = receipts_of(await read_topic(settings.bootstrap, settings.receipts_topic, lambda rs: len(rs) >= 1,
                                            settle=0.5))
    assert receipts == {"d-push": {"delivery_id": "d-push", "customer_id": "u1", "channel": "push",
                                   "status": "opened", "at": "2026-12-01T10:05:00Z", "journey": "j", "step": "s",
                                   "provider_message_id": "fcm/2"}}


class _TwoNames:
    """The sent-record of one push to two devices: either device's message name finds it."""

    busy = False

    def coverage(self) -> tuple[int, int]:
        return 2, 2

    def lookup(self, delivery_id: str | None = None,
               provider_message_id: str | None = None) -> tuple[str, SentRecord] | None:
        if delivery_id not in (None, "d-push") or provider_message_id not in (None, "fcm/1", "fcm/2"):
            return None
        return "d-push", SentRecord(at=AT, provider_message_id="fcm/1", customer_id="u1", channel="push",
                                    journey="j", step="s")


def test_the_receipt_carries_the_name_the_callback_gave() -> None:
    """A callback under the second device's name: its receipt names that device's message, not the first's; one
    giving no name (our ids) gets the record's."""
    by_second = resolve(Engagement(provider_message_id="fcm/2", event="opened", channel="push"), _TwoNames())
    assert (by_second.delivery_id, by_second.customer_id, by_second.provider_message_id) == ("d-push", "u1", "fcm/2")
    assert to_receipt(by_second).provider_message_id == "fcm/2"
    assert resolve(Engagement(provider_message_id="fcm/1", event="opened"), _TwoNames()).provider_message_id == "fcm/1"
    ours = resolve(Engagement(delivery_id="d-push", customer_id="u1", event="opened"), _TwoNames())
    assert (ours.journey, ours.step, ours.provider_message_id) == ("j", "s", "fcm/1")


class _Partial:
    """A replica holding one of two partitions, or one reading its partitions."""

    def __init__(self, busy: bool = False, have: int = 1) -> None:
        self.busy = busy
        self.have = have

    def coverage(self) -> tuple[int, int]:
        return self.have, 2

    def lookup(self, delivery_id: str | None = None,
               provider_message_id: str | None = None) -> tuple[str, SentRecord] | None:
        return None


def test_what_a_replica_that_cannot_know_answers() -> None:
    e = Engagement(provider_message_id="sg-9", event="opened")
    with pytest.raises(Unresolved) as err:
        resolve(e, _Partial())
    assert err.value.status == 404 and err.value.message.endswith(
        "; this replica holds 1 of the sent-record's 2 partitions, another replica's sends are known there: retry "
        "(another connection may reach it), or give delivery_id and customer_id")
    for busy, have in ((True, 1), (False, 0)):  # reading its partitions, or holding none yet: retry
        with pytest.raises(Unresolved) as err:
            resolve(e, _Partial(busy, have))
        assert err.value.status == 503 and "retry" in err.value.message
    # our ids are taken as given when the record cannot help (as before)
    given = Engagement(delivery_id="d1", customer_id="u1", event="opened")
    assert resolve(given, _Partial()) is given and resolve(given, None) is given


class _Newsletter:
    """The sent-record of one newsletter mail (``d-news``, topic ``newsletter``), or one reading its partitions."""

    def __init__(self, busy: bool = False) -> None:
        self.busy = busy
        self.asked = 0

    def coverage(self) -> tuple[int, int]:
        return 2, 2

    def lookup(self, delivery_id: str | None = None,
               provider_message_id: str | None = None) -> tuple[str, SentRecord] | None:
        self.asked += 1
        if delivery_id not in (None, "d-news") or provider_message_id not in (None, "sg-2"):
            return None
        return "d-news", SentRecord(at=AT, provider_message_id="sg-2", customer_id="u2", channel="email",
                                    journey="news", step="mail", topic="newsletter")


def test_an_unsubscribe_without_its_topic_takes_the_sends_and_withdraws_that_topic_alone() -> None:
    """Our ids, journey and step all given but no topic (an unsubscribe page whose link left ``{topic}`` out) was
    taken as given, without a look at the record: its receipt withdrew the customer's e-mail. Now the record is
    asked for an unsubscribe's topic (not for an open's: those stay as cheap as before), and the profile loses the
    newsletter alone; a complaint about the same mail still withdraws e-mail."""
    ids: dict[str, Any] = {"delivery_id": "d-news", "customer_id": "u2", "journey": "news", "step": "mail", "at": AT}
    record = _Newsletter()
    opened = Engagement(event="opened", **ids)
    assert resolve(opened, record) is opened and record.asked == 0
    unsub = resolve(Engagement(event="unsubscribed", **ids), record)
    assert unsub.topic == "newsletter" and record.asked == 1
    complaint = resolve(Engagement(event="complained", provider_message_id="sg-2", at=AT), record)
    assert complaint.topic == "newsletter"  # (the engine withdraws the channel for a complaint, topic or not)
    p = new_profile("u2")
    apply_event(p, decode_event(receipt_event(to_receipt(unsub))))
    assert p.consent == {"newsletter": False}
    apply_event(p, decode_event(receipt_event(to_receipt(complaint))))
    assert p.consent == {"newsletter": False, "email": False}
    # while the record is being read (partitions moving) an unsubscribe without its topic waits: retry, not the
    # whole channel; one naming its topic, or an open, is taken as given as before
    with pytest.raises(Unresolved) as err:
        resolve(Engagement(event="unsubscribed", **ids), _Newsletter(busy=True))
    assert err.value.status == 503 and "retry" in err.value.message
    for given in (Engagement(event="unsubscribed", topic="newsletter", **ids),
                  Engagement(event="opened", **{**ids, "journey": None})):
        assert resolve(given, _Newsletter(busy=True)) is given


class _RecordBefore(msgspec.Struct, kw_only=True, omit_defaults=True):
    """:class:`SentRecord` as adapters before topics wrote and read it."""

    at: str
    provider_message_id: str | None = None
    customer_id: str | None = None
    channel: str | None = None
    journey: str | None = None
    step: str | None = None


def test_records_with_and_without_a_topic_read_both_ways() -> None:
    """The record's stored form: one written before topics reads (no topic: its unsubscribe is the channel's, as
    then), a send of no topic is stored as before (no key), and one with a topic reads in an adapter rolled back."""
    before = msgspec.json.encode(_RecordBefore(at=AT, provider_message_id="sg-9", customer_id="u9", channel="email",
                                               journey="j", step="s"))
    old = msgspec.json.decode(before, type=SentRecord)
    assert old.topic is None and old.customer_id == "u9"
    assert msgspec.json.encode(SentRecord(**msgspec.structs.asdict(old))) == before
    assert resolve(Engagement(provider_message_id="sg-9", event="unsubscribed"),
                   _OneRecord("d-old", old)).topic is None
    new = msgspec.json.encode(msgspec.structs.replace(old, topic="newsletter"))
    assert msgspec.json.decode(new, type=_RecordBefore) == _RecordBefore(**{
        k: v for k, v in msgspec.structs.asdict(old).items() if k != "topic"})


class _OneRecord:
    def __init__(self, did: str, rec: SentRecord) -> None:
        self.found = (did, rec)

    busy = False

    def coverage(self) -> tuple[int, int]:
        return 1, 1

    def lookup(self, delivery_id: str | None = None,
               provider_message_id: str | None = None) -> tuple[str, SentRecord] | None:
        return self.found
