"""The adapter's HTTP endpoint against the real broker: engagement callbacks become receipts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from cjo_stream.adapters.runner import track_topics
from cjo_stream.adapters.service import callback_channels
from cjo_stream.adapters.signing import sign
from cjo_stream.adapters.web import build_app
from cjo_stream.commands import ALL_CHANNELS
from cjo_stream.config import Settings
from cjo_stream.kafka.producer import make_producer
from cjo_stream.kafka.topics import ensure_topics
from cjo_stream.serving import bound_port, start_site
from tests.adapters.conftest import read_topic, receipts_of

KEY = b"engagement-key"


@pytest.fixture
async def endpoint(settings: Settings) -> AsyncIterator[str]:
    await ensure_topics(settings, [settings.receipts_topic])
    producer = make_producer(settings)
    await producer.start()
    await track_topics(producer, [settings.receipts_topic])
    site = await start_site(build_app(producer, settings.receipts_topic, KEY,
                                      lambda: {"status": "ok", "adapter": "email"}), "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{bound_port(site)}"
    finally:
        await site.cleanup()
        await producer.stop()


async def post(url: str, payload: Any, key: bytes | None = KEY, **headers: str) -> httpx.Response:
    body = orjson.dumps(payload)
    h = {"Content-Type": "application/json", **(sign(key, body) if key else {}), **headers}
    async with httpx.AsyncClient() as c:
        return await c.post(f"{url}/engagement", content=body, headers=h)


async def test_signed_engagement_events_become_receipts(endpoint: str, settings: Settings) -> None:
    r = await post(endpoint, {"delivery_id": "d1", "customer_id": "u1", "event": "opened",
                              "at": "2026-03-02T11:05:00Z", "journey": "abandoned_cart", "step": "remind"})
    assert r.status_code == 202 and r.json() == {"accepted": 1}
    r = await post(endpoint, [{"delivery_id": "d2", "customer_id": "u2", "event": "clicked",
                               "url": "https://shop.example/cart", "provider_message_id": "sg-1"},
                              {"delivery_id": "d3", "customer_id": "u3", "channel": "sms", "event": "bounced",
                               "reason": "carrier rejected"}])
    assert r.status_code == 202 and r.json() == {"accepted": 2}
    records = await read_topic(settings.bootstrap, settings.receipts_topic, lambda rs: len(rs) >= 3)
    receipts = receipts_of(records)
    assert receipts["d1"] == {"delivery_id": "d1", "customer_id": "u1", "channel": "email", "status": "opened",
                              "at": "2026-03-02T11:05:00Z", "journey": "abandoned_cart", "step": "remind"}
    assert receipts["d2"]["status"] == "clicked" and receipts["d2"]["attributes"] == {"url": "https://shop.example/cart"}
    assert receipts["d2"]["provider_message_id"] == "sg-1" and receipts["d2"]["at"].endswith("Z")
    assert (receipts["d3"]["channel"], receipts["d3"]["status"]) == ("sms", "bounced")
    assert {r.key for r in records} == {b"u1", b"u2", b"u3"}  # keyed by customer, like every receipt


async def test_engagement_refusals(endpoint: str) -> None:
    ok = {"delivery_id": "d1", "customer_id": "u1", "event": "opened"}
    assert (await post(endpoint, ok, key=b"wrong")).status_code == 401
    r = await post(endpoint, ok, key=None)
    assert r.status_code == 401 and "missing" in r.json()["error"]
    r = await post(endpoint, {**ok, "event": "liked"})
    assert r.status_code == 400 and "invalid engagement payload" in r.json()["error"]
    r = await post(endpoint, {**ok, "at": "yesterday"})
    assert r.status_code == 400 and "RFC 3339" in r.json()["error"]
    assert (await post(endpoint, {"customer_id": "u1", "event": "opened"})).status_code == 400
    # what the workers would dead-letter (bad_receipt) is refused here, where the sender sees it and can retry;
    # one bad event of a batch refuses the batch (nothing written)
    for bad, field in [({**ok, "customer_id": ""}, "customer_id"), ({**ok, "customer_id": "u" * 600}, "customer_id"),
                       ({**ok, "customer_id": "a\u0000b"}, "customer_id"), ({**ok, "delivery_id": ""}, "delivery_id")]:
        r = await post(endpoint, [ok, bad])
        assert r.status_code == 400 and field in r.json()["error"], (bad, r.text)


async def test_metrics_and_health(endpoint: str) -> None:
    await post(endpoint, {"delivery_id": "d9", "customer_id": "u9", "event": "complained"})
    async with httpx.AsyncClient() as c:
        m = await c.get(f"{endpoint}/metrics")
        h = await c.get(f"{endpoint}/health")
    assert m.status_code == 200 and m.headers["Content-Type"].startswith("text/plain")
    assert 'cjo_delivery_outcomes_total{channel="email",status="complained"}' in m.text
    assert h.status_code == 200 and h.json() == {"status": "ok", "adapter": "email"}


async def test_a_callback_names_a_channel_the_adapter_knows(settings: Settings, tmp_path: Path) -> None:
    """``"channel": "whatsapp"`` on the adapter of ``myco_whatsapp`` was accepted: its ``unsubscribed`` withdrew
    consent for a channel nothing sends on, and the customer kept getting WhatsApp messages."""
    (tmp_path / "policies.yaml").write_text("channels:\n  myco_whatsapp: {address: whatsapp}\n  myco_mail: {}\n")
    known = callback_channels("myco_whatsapp", {"CJO_TOPOLOGIES": str(tmp_path)})
    assert known == ALL_CHANNELS | {"myco_whatsapp", "myco_mail"}
    assert callback_channels("myco_fax", {"CJO_TOPOLOGIES": str(tmp_path / "none")}) == ALL_CHANNELS | {"myco_fax"}
    await ensure_topics(settings, [settings.receipts_topic])
    producer = make_producer(settings)
    await producer.start()
    site = await start_site(build_app(producer, settings.receipts_topic, default_channel="myco_whatsapp",
                                      channels=known), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{bound_port(site)}"
    try:
        ok = {"delivery_id": "d1", "customer_id": "u1", "event": "unsubscribed"}
        r = await post(url, [ok, {**ok, "channel": "whatsapp"}], key=None)
        assert r.status_code == 400 and r.json()["error"] == (
            "invalid engagement payload: unknown channel 'whatsapp' (did you mean 'myco_whatsapp'?): this adapter "
            f"takes callbacks about {', '.join(sorted(known))} (channels of your own: those declared in the "
            "policies.yaml of CJO_TOPOLOGIES, and its own)")
        r = await post(url, {**ok, "event": "read"}, key=None)  # WhatsApp's word: which one is meant?
        assert r.status_code == 400 and r.json()["error"] == (
            "invalid engagement payload: Invalid enum value 'read' - at `$.event`: use one of delivered, opened, "
            "clicked, bounced, unsubscribed, complained, failed (a translating proxy maps its provider's statuses "
            "to these: a read receipt is opened)")
        for channel in (None, "myco_mail", "sms"):
            r = await post(url, ok if channel is None else {**ok, "channel": channel}, key=None)
            assert r.status_code == 202, r.text
    finally:
        await site.cleanup()
        await producer.stop()
    receipts = await read_topic(settings.bootstrap, settings.receipts_topic, lambda rs: len(rs) >= 3)
    assert [orjson.loads(r.value)["channel"] for r in receipts] == ["myco_whatsapp", "myco_mail", "sms"]
