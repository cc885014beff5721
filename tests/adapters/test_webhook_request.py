"""A webhook step's own request (``method:`` in its content): a third party's API gets the method, the raw body,
the content type and the headers the step renders, as Braze's and Customer.io's webhook steps send them, with
the adapter's idempotency and signature headers still added; against a real HTTP server on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from cjo_stream.adapters import config
from cjo_stream.adapters.signing import verify
from cjo_stream.adapters.webhook import WebhookChannel, WebhookConfig
from tests.adapters.conftest import Answer, Receiver, command
from tests.adapters.test_http_channels import KEY, deliver

BODY = '{"email": "ada@example.com", "plan": "pro"}'


def _channel(receiver: Receiver, **kw: Any) -> WebhookChannel:
    return WebhookChannel(WebhookConfig(url=f"{receiver.url}/api/users", signing_key=KEY, timeout=5, **kw))


async def test_the_steps_method_body_and_headers_are_sent_as_they_are(receiver: Receiver) -> None:
    receiver.script("/api/users", Answer(200, json={"id": "usr_9"}))
    cmd = command(content={"method": "put", "body": BODY, "headers": '{"X-Source": "cjo", "X-Plan": "pro"}'})
    out = await deliver(_channel(receiver), cmd)
    assert out.result.outcome == "sent" and out.result.provider_message_id == "usr_9"
    [req] = receiver.seen("/api/users")
    assert req.method == "PUT" and req.body == BODY.encode()  # the body itself, not the command around it
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["X-Source"] == "cjo" and req.headers["X-Plan"] == "pro"
    assert req.headers["Idempotency-Key"] == cmd.delivery_id
    assert verify(KEY, req.body, req.headers["X-CJO-Timestamp"], req.headers["X-CJO-Signature"]) is None


async def test_a_form_body_and_the_operators_headers(receiver: Receiver) -> None:
    cmd = command(content={"method": "POST", "body": "email=ada%40example.com&list=7",
                           "content_type": "application/x-www-form-urlencoded",
                           "headers": '{"authorization": "from the journey"}'})
    ch = _channel(receiver, headers=(("Authorization", "Bearer sk_live"),))
    out = await deliver(ch, cmd)
    assert out.result.outcome == "sent"
    [req] = receiver.seen("/api/users")
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert req.body == b"email=ada%40example.com&list=7"
    assert req.headers["Authorization"] == "Bearer sk_live"  # the operator's wins, whatever the case


async def test_a_get_and_a_delete_send_no_command(receiver: Receiver) -> None:
    await deliver(_channel(receiver), command(content={"method": "GET"}))
    await deliver(_channel(receiver), command(content={"method": "DELETE", "body": ""}))
    get, delete = receiver.seen("/api/users")
    assert (get.method, get.body, delete.method, delete.body) == ("GET", b"", "DELETE", b"")


@pytest.mark.parametrize(("content", "why"), [
    ({"method": "FETCH", "body": "{}"}, "method 'FETCH' is not one of POST, PUT, PATCH, DELETE, GET"),
    ({"method": "POST", "headers": "X-A: 1"}, "headers is not JSON"),
    ({"method": "POST", "headers": '{"Idempotency-Key": "k"}'}, "header 'Idempotency-Key' is set by the adapter"),
    ({"method": "POST", "headers": '{"X-A": "1\\r\\nX-B: 2"}'}, "header 'X-A' holds a line break"),
    ({"method": "GET", "body": "x"}, "a GET sends no body"),
])
async def test_a_rendered_request_that_cannot_be_sent_fails_for_good(receiver: Receiver, content: dict[str, str],
                                                                     why: str) -> None:
    out = await deliver(_channel(receiver), command(content=content))
    assert (out.result.outcome, out.result.status, out.attempts) == ("permanent", "failed", 1), out.result
    assert why in (out.result.reason or ""), out.result
    assert receiver.seen() == []


async def test_without_a_method_the_command_is_posted_as_before(receiver: Receiver) -> None:
    cmd = command(content={"body": BODY})
    await deliver(_channel(receiver, headers=(("X-Api-Key", "k1"),)), cmd)
    [req] = receiver.seen("/api/users")
    assert req.method == "POST" and orjson.loads(req.body)["content"] == {"body": BODY}
    assert req.headers["X-Api-Key"] == "k1"


def test_the_operators_headers_from_the_environment(tmp_path: Path) -> None:
    f = tmp_path / "headers.json"
    f.write_text('{"Authorization": "Bearer sk_live_1"}\n')
    cfg = WebhookConfig.from_env({"CJO_WEBHOOK_URL": "https://x.example/h", "CJO_WEBHOOK_HEADERS_FILE": str(f)})
    assert cfg.headers == (("Authorization", "Bearer sk_live_1"),) and "sk_live" not in repr(cfg)
    with pytest.raises(config.ConfigError, match="CJO_WEBHOOK_HEADERS: headers is not a JSON object"):
        WebhookConfig.from_env({"CJO_WEBHOOK_URL": "https://x.example/h", "CJO_WEBHOOK_HEADERS": '["a"]'})
    with pytest.raises(config.ConfigError, match="header 'X-CJO-Signature' is set by the adapter"):
        WebhookConfig.from_env({"CJO_WEBHOOK_URL": "https://x.example/h",
                                "CJO_WEBHOOK_HEADERS": '{"X-CJO-Signature": "x"}'})
