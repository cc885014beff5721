"""Webhook, Slack, CRM, SMS (Twilio shape) and push (FCM v1 shape) against a real HTTP server on loopback.

Each test drives the channel's real aiohttp client through the real retry loop; only the waiting is
skipped (an injected sleep records the delays instead), so 429/Retry-After is asserted exactly.
"""

from __future__ import annotations

import base64
import os
import random
import socket
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from cjo_stream.adapters import config
from cjo_stream.adapters.base import Channel
from cjo_stream.adapters.crm import CrmChannel, CrmConfig
from cjo_stream.adapters.push import PushChannel, PushConfig
from cjo_stream.adapters.retry import RetryOutcome, RetryPolicy, run_with_retries
from cjo_stream.adapters.signing import verify
from cjo_stream.adapters.slack import SlackChannel, SlackConfig
from cjo_stream.adapters.sms import SmsChannel, SmsConfig
from cjo_stream.adapters.webhook import WebhookChannel, WebhookConfig
from cjo_stream.commands import DeliveryCommand, device_digest
from tests.adapters.conftest import Answer, Receiver, command

KEY = b"whsec-test-key"


class Waits:
    def __init__(self) -> None:
        self.slept: list[float] = []
        self.t = 0.0

    def clock(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


async def deliver(channel: Channel, cmd: DeliveryCommand, policy: RetryPolicy | None = None,
                  waits: Waits | None = None) -> RetryOutcome:
    from cjo_stream.adapters.base import attempt

    w = waits or Waits()
    await channel.start()
    try:
        return await run_with_retries(lambda: attempt(channel, cmd), policy or RetryPolicy(max_attempts=4),
                                      sleep=w.sleep, clock=w.clock, rng=random.Random(0))
    finally:
        await channel.close()


def webhook(receiver: Receiver, **kw: Any) -> WebhookChannel:
    return WebhookChannel(WebhookConfig(url=f"{receiver.url}/hooks/cjo", signing_key=KEY, timeout=kw.pop("timeout", 5),
                                        **kw))


# ---------------------------------------------------------------------------- webhook
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "10.1.2.3", "169.254.169.254", "0.0.0.0", "127.1",
                                  "0177.0.0.1", "2130706433", "0x7f000001", "127.0.0.1."])
async def test_a_send_steps_url_to_an_internal_address_is_refused(receiver: Receiver, host: str) -> None:
    """A `to:` rendered from event data reached a service on 127.0.0.1 with the customer's data, and its answer
    came back in the receipt (SSRF; a security review): refused unless CJO_WEBHOOK_ALLOW_PRIVATE=true."""
    port = receiver.url.rsplit(":", 1)[1]
    out = await deliver(webhook(receiver), command(to=f"http://{host}:{port}/ssrf"))
    assert out.result.outcome == "permanent", out.result
    # a legacy numeric form is named as such (it said "invalid URL: use an absolute http:// ... URL")
    canonical = host in ("127.0.0.1", "localhost", "[::1]", "10.1.2.3", "169.254.169.254", "0.0.0.0")
    assert ("CJO_WEBHOOK_ALLOW_PRIVATE=true" if canonical else "not a canonical IP address") in (out.result.reason or "")
    assert receiver.seen() == []
    assert WebhookConfig.from_env({"CJO_WEBHOOK_ALLOW_PRIVATE": "true"}).allow_private
    out = await deliver(webhook(receiver), command())  # the configured URL is the operator's: not checked
    assert out.result.outcome == "sent"




class _Answers(AbstractResolver):
    """A DNS whose answer for a name is whatever the test says (a name an attacker controls)."""

    def __init__(self, *answers: str) -> None:
        self.answers, self.asked = list(answers), 0

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        ip = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        return [{"hostname": host, "host": ip, "port": port, "family": family, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        return None


async def test_a_name_that_resolves_to_an_internal_address_is_refused_where_it_is_connected(receiver: Receiver) -> None:
    """The address checked is the address connected to: the guard sits in the client's resolver. (The first
    guard resolved the name itself and the client again, so a name answering 127.0.0.1 only to the second
    lookup — DNS rebinding — reached the internal service; and a name its own lookup could not resolve was
    let through to the client's.)"""
    port = receiver.url.rsplit(":", 1)[1]
    dns = _Answers("127.0.0.1")
    channel = WebhookChannel(WebhookConfig(url=f"{receiver.url}/hooks/cjo", timeout=5), resolver=dns)
    out = await deliver(channel, command(to=f"http://hooks.attacker.test:{port}/ssrf"))
    assert out.result.outcome == "permanent" and "loopback" in (out.result.reason or "")
    assert "CJO_WEBHOOK_ALLOW_PRIVATE=true" in (out.result.reason or "")
    assert dns.asked == 1 and receiver.seen() == []
    allowed = WebhookChannel(WebhookConfig(url=f"{receiver.url}/hooks/cjo", timeout=5, allow_private=True))
    out = await deliver(allowed, command(to=f"http://localhost:{port}/internal"))
    assert out.result.outcome == "sent" and len(receiver.seen()) == 1


async def test_webhook_posts_signed_command_with_idempotency_key(receiver: Receiver) -> None:
    receiver.script("/hooks/cjo", Answer(200, json={"id": "evt_123"}))
    cmd = command(channel="webhook")
    out = await deliver(webhook(receiver), cmd)
    assert out.result.outcome == "sent" and out.result.provider_message_id == "evt_123"
    [req] = receiver.seen("/hooks/cjo")
    assert req.method == "POST" and req.headers["Content-Type"] == "application/json"
    assert req.headers["Idempotency-Key"] == cmd.delivery_id
    assert verify(KEY, req.body, req.headers["X-CJO-Timestamp"], req.headers["X-CJO-Signature"]) is None
    assert orjson.loads(req.body)["delivery_id"] == cmd.delivery_id
    assert orjson.loads(req.body)["content"] == cmd.content


async def test_webhook_500_then_success_keeps_the_idempotency_key(receiver: Receiver) -> None:
    receiver.script("/hooks/cjo", Answer(500, text="oops"), Answer(502), Answer(200))
    cmd = command()
    out = await deliver(webhook(receiver), cmd)
    assert out.result.outcome == "sent" and out.attempts == 3
    assert {r.headers["Idempotency-Key"] for r in receiver.seen()} == {cmd.delivery_id}


async def test_webhook_429_honours_retry_after(receiver: Receiver) -> None:
    receiver.script("/hooks/cjo", Answer(429, headers={"Retry-After": "7"}), Answer(200))
    waits = Waits()
    out = await deliver(webhook(receiver), command(), waits=waits)
    assert out.result.outcome == "sent" and out.attempts == 2
    assert waits.slept[0] >= 7


async def test_webhook_timeout_is_retried(receiver: Receiver) -> None:
    receiver.script("/hooks/cjo", Answer(200, delay=2.0), Answer(200))
    ch = webhook(receiver, timeout=0.3)
    out = await deliver(ch, command())
    assert out.result.outcome == "sent" and out.attempts == 2
    assert len(receiver.seen()) == 2


async def test_webhook_400_is_permanent_and_not_retried(receiver: Receiver) -> None:
    receiver.script("/hooks/cjo", Answer(400, json={"error": "bad"}))
    out = await deliver(webhook(receiver), command())
    assert (out.result.outcome, out.result.reason, out.attempts) == ("permanent", "HTTP 400", 1)
    assert len(receiver.seen()) == 1


async def test_webhook_exhausts_its_budget_on_persistent_503(receiver: Receiver) -> None:
    receiver.default = Answer(503)
    out = await deliver(webhook(receiver), command(), RetryPolicy(max_attempts=3))
    assert out.result.outcome == "transient" and out.attempts == 3 and out.gave_up
    assert len(receiver.seen()) == 3


async def test_webhook_url_from_to_and_missing_url(receiver: Receiver) -> None:
    out = await deliver(webhook(receiver, allow_private=True), command(to=f"{receiver.url}/other"))
    assert out.result.outcome == "sent" and receiver.seen()[0].path == "/other"
    out = await deliver(WebhookChannel(WebhookConfig()), command())
    assert out.result.outcome == "permanent" and "CJO_WEBHOOK_URL" in (out.result.reason or "")


async def test_webhook_connection_refused_is_transient() -> None:
    from cjo_stream.kafka.local_broker import free_port

    ch = WebhookChannel(WebhookConfig(url=f"http://127.0.0.1:{free_port()}/x", timeout=1))
    out = await deliver(ch, command(), RetryPolicy(max_attempts=2))
    assert out.result.outcome == "transient" and "connection error" in (out.result.reason or "")


async def test_webhook_unsigned_without_key(receiver: Receiver) -> None:
    await deliver(WebhookChannel(WebhookConfig(url=f"{receiver.url}/h")), command())
    assert "X-CJO-Signature" not in receiver.seen()[0].headers


def test_webhook_config_from_env(tmp_path: Any) -> None:
    f = tmp_path / "key"
    f.write_text("from-file-0123456789\n")
    cfg = WebhookConfig.from_env({"CJO_WEBHOOK_URL": "https://x.example/h", "CJO_WEBHOOK_SIGNING_KEY_FILE": str(f),
                                  "CJO_WEBHOOK_TIMEOUT": "3s"})
    assert (cfg.url, cfg.signing_key, cfg.timeout) == ("https://x.example/h", b"from-file-0123456789", 3.0)
    assert "from-file" not in repr(cfg)
    # a short HMAC key is refused at start, as an API token's short secret is (it was taken at any length)
    with pytest.raises(config.ConfigError, match="CJO_WEBHOOK_SIGNING_KEY is 6 characters: use at least 16"):
        WebhookConfig.from_env({"CJO_WEBHOOK_URL": "https://x.example/h", "CJO_WEBHOOK_SIGNING_KEY": "secret"})


# ---------------------------------------------------------------------------- Slack


async def test_slack_posts_text_and_maps_errors(receiver: Receiver) -> None:
    url = f"{receiver.url}/services/T000/B000/XXXX"
    receiver.script("/services/T000/B000/XXXX", Answer(429, text="rate_limited", headers={"Retry-After": "2"}),
                    Answer(200, text="ok"), Answer(400, text="invalid_payload"))
    waits = Waits()
    out = await deliver(SlackChannel(SlackConfig(webhook_url=url)), command(channel="slack",
                                                                            content={"text": "Hot lead: u1"}), waits=waits)
    assert out.result.outcome == "sent" and waits.slept[0] >= 2
    assert orjson.loads(receiver.seen()[-1].body) == {"text": "Hot lead: u1"}
    out = await deliver(SlackChannel(SlackConfig(webhook_url=url)), command(channel="slack"))
    assert (out.result.outcome, out.result.reason) == ("permanent", "HTTP 400 code=invalid_payload")


def test_slack_requires_its_webhook_url() -> None:
    with pytest.raises(config.ConfigError, match="CJO_SLACK_WEBHOOK_URL"):
        SlackConfig.from_env({})


# ---------------------------------------------------------------------------- CRM


def crm_env(receiver: Receiver, **extra: str) -> dict[str, str]:
    return {"CJO_CRM_URL": f"{receiver.url}/api/leads/{{customer_id}}", "CJO_CRM_METHOD": "PATCH",
            "CJO_CRM_BODY": '{"status": "{content.status}", "source": "cjo:{journey}", "meta": "{content}"}',
            "CJO_CRM_TOKEN": "crm-token", **extra}


async def test_crm_upsert_maps_url_method_and_body(receiver: Receiver) -> None:
    receiver.script("/api/leads/u 42", Answer(500), Answer(200, json={"id": "lead-9"}))
    cmd = command(channel="crm", customer_id="u 42", content={"status": "hot"})
    out = await deliver(CrmChannel(CrmConfig.from_env(crm_env(receiver))), cmd)
    assert out.result.outcome == "sent" and out.result.provider_message_id == "lead-9" and out.attempts == 2
    req = receiver.seen()[-1]
    assert req.method == "PATCH" and req.path == "/api/leads/u 42"  # the id was URL-encoded on the way
    assert req.headers["Authorization"] == "Bearer crm-token"
    assert req.headers["Idempotency-Key"] == cmd.delivery_id
    assert orjson.loads(req.body) == {"status": "hot", "source": "cjo:abandoned_cart", "meta": {"status": "hot"}}


@pytest.mark.parametrize("cid", ["..", "."])
async def test_crm_keeps_a_dot_id_inside_its_path_segment(receiver: Receiver, cid: str) -> None:
    """A customer id `..` made `PUT /api/leads/..`, which the client normalised to `/api/`, with the CRM's
    bearer token (a security review): dots are escaped like the other path characters."""
    receiver.script(f"/api/leads/{cid}", Answer(200, json={"id": "lead-1"}))
    out = await deliver(CrmChannel(CrmConfig.from_env(crm_env(receiver))),
                        command(channel="crm", customer_id=cid, content={"status": "hot"}))
    assert out.result.outcome == "sent"
    assert receiver.seen()[-1].path == f"/api/leads/{cid}"  # as the receiver decodes it: the id, not a parent


async def test_crm_missing_content_field_is_permanent(receiver: Receiver) -> None:
    out = await deliver(CrmChannel(CrmConfig.from_env(crm_env(receiver))), command(channel="crm", content={}))
    assert out.result.outcome == "permanent" and "'status'" in (out.result.reason or "")
    assert receiver.seen() == []


def test_crm_config_errors() -> None:
    with pytest.raises(config.ConfigError, match="CJO_CRM_URL is not set"):
        CrmConfig.from_env({})
    with pytest.raises(config.ConfigError, match=r"unknown placeholder \{email\}"):
        CrmConfig.from_env({"CJO_CRM_URL": "https://crm/x/{email}"})
    with pytest.raises(config.ConfigError, match="not valid JSON"):
        CrmConfig.from_env({"CJO_CRM_URL": "https://crm/x", "CJO_CRM_BODY": "{nope"})
    with pytest.raises(config.ConfigError, match="CJO_CRM_METHOD"):
        CrmConfig.from_env({"CJO_CRM_URL": "https://crm/x", "CJO_CRM_METHOD": "DELETE"})


@pytest.mark.parametrize(("env", "message"), [
    ({"CJO_CRM_BODY": '{"status": "{content.status"}'},
     "CJO_CRM_BODY: '{content.status' holds a brace that is no placeholder: write {name}, lower case"),
    ({"CJO_CRM_BODY": '{"id": "{Customer_Id}"}'}, "CJO_CRM_BODY: '{Customer_Id}' holds a brace"),
    ({"CJO_CRM_URL": "https://crm/leads/{ customer_id }"}, "CJO_CRM_URL: 'crm/leads/{ customer_id }' holds a brace"),
])
def test_crm_braces_that_are_no_placeholder_are_refused(env: dict[str, str], message: str) -> None:
    """They were sent to the CRM as written, for every customer, and nothing said so."""
    with pytest.raises(config.ConfigError) as info:
        CrmConfig.from_env({"CJO_CRM_URL": "https://crm/x/{customer_id}", **env})
    assert str(info.value).startswith(message)
    nested = '{"lead": {"id": "{customer_id}", "tags": ["cjo", "{journey}"]}, "fields": "{content}"}'
    assert CrmConfig.from_env({"CJO_CRM_URL": "https://crm/x", "CJO_CRM_BODY": nested}).body["lead"]["tags"] == \
        ["cjo", "{journey}"]  # a JSON body's own braces are its structure


# ---------------------------------------------------------------------------- SMS (Twilio Messages API)


def sms_channel(receiver: Receiver) -> SmsChannel:
    return SmsChannel(SmsConfig.from_env({"CJO_TWILIO_ACCOUNT_SID": "AC123", "CJO_TWILIO_AUTH_TOKEN": "tw-token",
                                          "CJO_SMS_FROM": "+15550001111", "CJO_TWILIO_BASE_URL": receiver.url}))


TWILIO_PATH = "/2010-04-01/Accounts/AC123/Messages.json"


async def test_sms_twilio_request_shape(receiver: Receiver) -> None:
    receiver.script(TWILIO_PATH, Answer(503), Answer(201, json={"sid": "SM0123", "status": "queued"}))
    cmd = command(channel="sms", to="+15557654321", content={"body": "Your code is 1234"})
    out = await deliver(sms_channel(receiver), cmd)
    assert out.result.outcome == "sent" and out.result.provider_message_id == "SM0123" and out.attempts == 2
    req = receiver.seen(TWILIO_PATH)[-1]
    assert req.method == "POST" and req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert req.headers["Authorization"] == "Basic " + base64.b64encode(b"AC123:tw-token").decode()
    assert parse_qs(req.body.decode()) == {"To": ["+15557654321"], "From": ["+15550001111"],
                                           "Body": ["Your code is 1234"]}


async def test_sms_invalid_number_is_a_bounce(receiver: Receiver) -> None:
    receiver.script(TWILIO_PATH, Answer(400, json={"code": 21211, "message": "The 'To' number +1555 is not valid"}))
    out = await deliver(sms_channel(receiver), command(channel="sms", to="+1555", content={"body": "x"}))
    r = out.result
    assert (r.outcome, r.status, r.reason, out.attempts) == ("permanent", "bounced", "HTTP 400 code=21211", 1)
    assert "+1555" not in (r.reason or "")  # the provider's message quoting the number is not kept


async def test_sms_without_number_is_not_sent(receiver: Receiver) -> None:
    out = await deliver(sms_channel(receiver), command(channel="sms", to=None))
    assert out.result.outcome == "permanent" and receiver.seen() == []


def test_sms_config_errors() -> None:
    with pytest.raises(config.ConfigError, match="CJO_TWILIO_ACCOUNT_SID"):
        SmsConfig.from_env({})
    with pytest.raises(config.ConfigError, match="CJO_SMS_FROM"):
        SmsConfig.from_env({"CJO_TWILIO_ACCOUNT_SID": "AC1", "CJO_TWILIO_AUTH_TOKEN": "t"})


# ---------------------------------------------------------------------------- push (FCM HTTP v1)

FCM_PATH = "/v1/projects/shop-app/messages:send"


def push_channel(receiver: Receiver, token_file: str) -> PushChannel:
    return PushChannel(PushConfig.from_env({"CJO_FCM_PROJECT_ID": "shop-app", "CJO_FCM_ACCESS_TOKEN_FILE": token_file,
                                            "CJO_FCM_BASE_URL": receiver.url}))


async def test_push_fcm_request_shape_and_token_refresh(receiver: Receiver, tmp_path: Any) -> None:
    token = tmp_path / "fcm-token"
    token.write_text("ya29.first\n")
    receiver.script(FCM_PATH, Answer(401, json={"error": {"code": 401, "status": "UNAUTHENTICATED"}}),
                    Answer(200, json={"name": "projects/shop-app/messages/0:42"}))
    ch = push_channel(receiver, str(token))
    cmd = command(channel="push", to="device-token-1", content={"title": "10% off", "body": "Use SAVE10",
                                                                 "deeplink": "shop://cart"})
    await ch.start()
    try:
        first = await ch.deliver(cmd)
        assert first.outcome == "transient" and "refresh" in (first.reason or "")
        token.write_text("ya29.second\n")
        os.utime(token, (1e9, 1e9))  # a different mtime, as a refresher's rewrite would give
        second = await ch.deliver(cmd)
    finally:
        await ch.close()
    assert second.outcome == "sent" and second.provider_message_id == "projects/shop-app/messages/0:42"
    a, b = receiver.seen(FCM_PATH)
    assert a.headers["Authorization"] == "Bearer ya29.first" and b.headers["Authorization"] == "Bearer ya29.second"
    assert orjson.loads(b.body) == {"message": {
        "token": "device-token-1", "notification": {"title": "10% off", "body": "Use SAVE10"},
        "data": {"deeplink": "shop://cart", "delivery_id": cmd.delivery_id, "journey": "abandoned_cart",
                 "step": "remind"}}}


async def test_push_unregistered_token_is_a_bounce(receiver: Receiver, tmp_path: Any) -> None:
    token = tmp_path / "t"
    token.write_text("ya29.x")
    receiver.script(FCM_PATH, Answer(404, json={"error": {"code": 404, "status": "NOT_FOUND", "details": [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}))
    out = await deliver(push_channel(receiver, str(token)), command(channel="push", to="gone"))
    assert (out.result.outcome, out.result.status, out.result.reason) == ("permanent", "bounced",
                                                                          "HTTP 404 code=UNREGISTERED")


async def test_push_quota_429_is_retried(receiver: Receiver, tmp_path: Any) -> None:
    token = tmp_path / "t"
    token.write_text("ya29.x")
    receiver.script(FCM_PATH, Answer(429, json={"error": {"status": "RESOURCE_EXHAUSTED"}}, headers={"Retry-After": "4"}))
    waits = Waits()
    out = await deliver(push_channel(receiver, str(token)), command(channel="push", to="tok"), waits=waits)
    assert out.result.outcome == "sent" and waits.slept[0] >= 4


UNREGISTERED = Answer(404, json={"error": {"code": 404, "status": "NOT_FOUND", "details": [
    {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}})


@pytest.mark.parametrize(("answers", "outcome"), [
    ((Answer(200, json={"name": "projects/shop-app/messages/1"}), UNREGISTERED), ("sent", "projects/shop-app/messages/1")),
    ((UNREGISTERED, UNREGISTERED), ("permanent", "bounced")),  # every app uninstalled
    ((Answer(503), UNREGISTERED), ("transient", None)),  # none took it: tried again, for both
])
async def test_push_goes_to_every_device_of_the_customer(receiver: Receiver, tmp_path: Any,
                                                         answers: tuple[Answer, ...], outcome: tuple[str, str | None]) -> None:
    """A customer with a phone and a tablet: ``to`` the device used last, ``also_to`` the other; one request each
    (in either order: they go at once). One device taking it is the send (not retried: the other has it)."""
    token = tmp_path / "t"
    token.write_text("ya29.x")
    receiver.script(FCM_PATH, *answers)
    ch = push_channel(receiver, str(token))
    await ch.start()
    try:
        r = await ch.deliver(command(channel="push", to="tablet", also_to=["phone", "tablet", ""]))
    finally:
        await ch.close()
    detail = r.provider_message_id if r.outcome == "sent" else r.status if r.outcome == "permanent" else None
    assert (r.outcome, detail) == outcome
    assert sorted(orjson.loads(s.body)["message"]["token"] for s in receiver.seen(FCM_PATH)) == ["phone", "tablet"]


async def test_push_to_two_devices_keeps_each_devices_message_name(receiver: Receiver, tmp_path: Any) -> None:
    """Both devices take it: FCM names each device's message; the send is the first, the other name goes with it
    (recorded too, so a callback naming the phone's message finds the send: it was unknown, 404)."""
    token = tmp_path / "t"
    token.write_text("ya29.x")
    receiver.script(FCM_PATH, Answer(200, json={"name": "projects/shop-app/messages/1"}),
                    Answer(200, json={"name": "projects/shop-app/messages/2"}))
    ch = push_channel(receiver, str(token))
    await ch.start()
    try:
        r = await ch.deliver(command(channel="push", to="tablet", also_to=["phone"]))
    finally:
        await ch.close()
    assert r.outcome == "sent"
    assert sorted([r.provider_message_id or "", *r.other_ids]) == ["projects/shop-app/messages/1",
                                                               "projects/shop-app/messages/2"]
    assert r.provider_message_id not in r.other_ids


@pytest.mark.parametrize(("answers", "outcome", "gone"), [
    ({"tablet": Answer(200, json={"name": "projects/shop-app/messages/1"}), "phone": UNREGISTERED}, "sent", ["phone"]),
    ({"tablet": UNREGISTERED, "phone": Answer(200, json={"name": "projects/shop-app/messages/2"})}, "sent", ["tablet"]),
    ({"tablet": UNREGISTERED, "phone": UNREGISTERED}, "permanent", ["phone", "tablet"]),  # bounced
    ({"tablet": UNREGISTERED}, "permanent", ["tablet"]),  # one device
])
async def test_push_names_the_uninstalled_devices_by_digest(receiver: Receiver, tmp_path: Any,
                                                             answers: dict[str, Answer], outcome: str,
                                                             gone: list[str]) -> None:
    """FCM answers UNREGISTERED for a device whose app was uninstalled: the result (and so the receipt) names those
    of the command's tokens by digest, whether the other device took it or not; the profile drops them."""
    token = tmp_path / "t"
    token.write_text("ya29.x")
    receiver.key_body = lambda body: orjson.loads(body)["message"]["token"]
    for device, answer in answers.items():
        receiver.script(device, answer)
    ch = push_channel(receiver, str(token))
    await ch.start()
    try:
        r = await ch.deliver(command(channel="push", to="tablet", also_to=["phone"] if len(answers) > 1 else None))
    finally:
        await ch.close()
    assert r.outcome == outcome and (r.status == "bounced" or outcome == "sent")
    assert sorted(r.unregistered) == sorted(device_digest(t) for t in gone)
    assert all(len(d) == 16 and d not in ("tablet", "phone") for d in r.unregistered)  # no address


def test_push_config_errors() -> None:
    with pytest.raises(config.ConfigError, match="CJO_FCM_ACCESS_TOKEN"):
        PushConfig.from_env({"CJO_FCM_PROJECT_ID": "p"})
    with pytest.raises(config.ConfigError, match="CJO_FCM_PROJECT_ID"):
        PushConfig.from_env({"CJO_FCM_ACCESS_TOKEN": "t"})
