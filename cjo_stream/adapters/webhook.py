"""``webhook``: POST the command JSON to an HTTP endpoint, signed, with ``Idempotency-Key: <delivery_id>``.

Headers: ``Content-Type: application/json``, ``Idempotency-Key``, ``X-CJO-Delivery-Id``, and when a
signing key is configured ``X-CJO-Timestamp`` and ``X-CJO-Signature: sha256=<hex HMAC-SHA256 of
"<timestamp>.<body>">`` (:mod:`cjo_stream.adapters.signing`). A receiver that stores the idempotency
key makes our one at-least-once window (crash after the POST, before the sent-record) harmless.

The URL is ``CJO_WEBHOOK_URL``, or the send step's ``to:`` when it is an http(s) URL and
``CJO_WEBHOOK_ALLOW_TO_URL`` is true (the default).

A 2xx answer is the delivery: after the ``sent`` receipt comes a ``delivered`` one carrying the answer,
``response: {status, body}`` (:mod:`cjo_stream.adapters.response`), for journeys to branch on.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import msgspec

from cjo_stream.adapters import config
from cjo_stream.adapters.base import DeliveryResult, PermanentError
from cjo_stream.adapters.http_client import HttpChannel, classify, json_field, timeout_from_env
from cjo_stream.adapters.response import response_summary
from cjo_stream.adapters.signing import sign
from cjo_stream.commands import DeliveryCommand

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class WebhookConfig:
    url: str = ""
    signing_key: bytes = field(default=b"", repr=False)
    timeout: float = 10.0
    allow_to_url: bool = True
    #: a send step's ``to:`` may name a loopback, private, link-local or reserved address (CJO_WEBHOOK_ALLOW_PRIVATE)
    allow_private: bool = False

    @classmethod
    def from_env(cls, env: config.Env | None = None) -> WebhookConfig:
        e = config.env_of(env)
        url = config.get(e, "CJO_WEBHOOK_URL")
        allow_to_url = config.boolean(e, "CJO_WEBHOOK_ALLOW_TO_URL", True)
        if not url and not allow_to_url:  # every command would fail: refused at start, not per command
            raise config.ConfigError("CJO_WEBHOOK_ALLOW_TO_URL=false and CJO_WEBHOOK_URL is not set: no command "
                                     "could be delivered; set CJO_WEBHOOK_URL")
        return cls(url=url and config.http_url(url, "CJO_WEBHOOK_URL"),
                   signing_key=config.signing_key(e, "CJO_WEBHOOK_SIGNING_KEY"),
                   timeout=timeout_from_env(e, "CJO_WEBHOOK_TIMEOUT"), allow_to_url=allow_to_url,
                   allow_private=config.boolean(e, "CJO_WEBHOOK_ALLOW_PRIVATE", False))


async def refuse_private(url: str) -> None:
    """A ``to:`` URL rendered from event data reached 127.0.0.1 with the customer's data, and the internal
    service's answer came back in the receipt for journeys to read (SSRF; a security review). A send step's
    URL may not name a loopback, private, link-local or reserved address, by name or number, unless
    CJO_WEBHOOK_ALLOW_PRIVATE=true (the configured CJO_WEBHOOK_URL is the operator's and is not checked).
    The name is resolved here and again by the client: this stops mistakes and plain abuse, not an attacker
    who controls a DNS name's answers between the two (an egress proxy does)."""
    host = urlsplit(url).hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return  # the client's own error says it (transient: DNS may be back)
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not ip.is_global:
            raise PermanentError(f"the send step's `to:` URL names a {'loopback' if ip.is_loopback else 'non-public'} "
                                 "address: set CJO_WEBHOOK_ALLOW_PRIVATE=true if the journey may call internal "
                                 "services")


def provider_id(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 200 else None


class WebhookChannel(HttpChannel):
    name = "webhook"

    def __init__(self, cfg: WebhookConfig) -> None:
        super().__init__(cfg.timeout)
        self.cfg = cfg

    def url_for(self, cmd: DeliveryCommand) -> str:
        if self.cfg.allow_to_url and cmd.to and cmd.to.startswith(("http://", "https://")):
            return cmd.to
        if not self.cfg.url:
            raise PermanentError("no webhook URL: set CJO_WEBHOOK_URL or give the send step an http(s) `to:`")
        return self.cfg.url

    def build(self, cmd: DeliveryCommand, now: float | None = None) -> tuple[bytes, dict[str, str]]:
        """The exact body and headers of the request (signed over these body bytes)."""
        body = _encode(cmd)
        headers = {"Content-Type": "application/json", "Idempotency-Key": cmd.delivery_id,
                   "X-CJO-Delivery-Id": cmd.delivery_id}
        if self.cfg.signing_key:
            headers.update(sign(self.cfg.signing_key, body, now))
        return body, headers

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        url = self.url_for(cmd)
        if url is cmd.to and not self.cfg.allow_private:
            await refuse_private(url)
        body, headers = self.build(cmd)
        resp = await self.request("POST", url, content=body, headers=headers)
        failure = classify(resp)
        if failure is not None:
            return failure
        return DeliveryResult.sent(provider_id(json_field(resp, "id")) or provider_id(resp.headers.get("X-Request-Id")),
                                   response=response_summary(resp.status, resp.body))
