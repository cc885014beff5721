"""``webhook``: POST the command JSON to an HTTP endpoint, signed, with ``Idempotency-Key: <delivery_id>``.

Headers: ``Content-Type: application/json``, ``Idempotency-Key``, ``X-CJO-Delivery-Id``, and when a
signing key is configured ``X-CJO-Timestamp`` and ``X-CJO-Signature: sha256=<hex HMAC-SHA256 of
"<timestamp>.<body>">`` (:mod:`cjo_stream.adapters.signing`). A receiver that stores the idempotency
key makes our one at-least-once window (crash after the POST, before the sent-record) harmless.

The URL is ``CJO_WEBHOOK_URL``, or the send step's ``to:`` when it is an http(s) URL and
``CJO_WEBHOOK_ALLOW_TO_URL`` is true (the default).

A send whose content has ``method`` makes a request of its own instead (a third party's API, as Braze's and
Customer.io's webhook steps do): that method, the rendered ``body`` as the request body, ``content_type``
and ``headers`` (:mod:`cjo_stream.webhook_content`); the idempotency and signature headers are added all the
same. ``CJO_WEBHOOK_HEADERS`` (a secret: an API key lives there, not in journey files) adds headers to every
request.

A 2xx answer is the delivery: after the ``sent`` receipt comes a ``delivered`` one carrying the answer,
``response: {status, body}`` (:mod:`cjo_stream.adapters.response`), for journeys to branch on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import msgspec
from aiohttp.abc import AbstractResolver

from cjo_stream.adapters import config
from cjo_stream.adapters.base import DeliveryResult, PermanentError, provider_id
from cjo_stream.adapters.http_client import HttpChannel, classify, json_field, timeout_from_env
from cjo_stream.adapters.public_only import PublicOnlyResolver, refuse_literal
from cjo_stream.adapters.response import response_summary
from cjo_stream.adapters.signing import sign
from cjo_stream.commands import DeliveryCommand
from cjo_stream.webhook_content import headers_of, method_of

_encode = msgspec.json.Encoder().encode
PRIVATE_SETTING = "CJO_WEBHOOK_ALLOW_PRIVATE"


@dataclass(frozen=True)
class WebhookConfig:
    url: str = ""
    signing_key: bytes = field(default=b"", repr=False)
    timeout: float = 10.0
    allow_to_url: bool = True
    #: a send step's ``to:`` may name a loopback, private, link-local or reserved address (CJO_WEBHOOK_ALLOW_PRIVATE)
    allow_private: bool = False
    #: headers added to every request (CJO_WEBHOOK_HEADERS: a JSON object; an API key, so a secret)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @classmethod
    def from_env(cls, env: config.Env | None = None) -> WebhookConfig:
        e = config.env_of(env)
        url = config.get(e, "CJO_WEBHOOK_URL")
        allow_to_url = config.boolean(e, "CJO_WEBHOOK_ALLOW_TO_URL", True)
        if not url and not allow_to_url:  # every command would fail: refused at start, not per command
            raise config.ConfigError("CJO_WEBHOOK_ALLOW_TO_URL=false and CJO_WEBHOOK_URL is not set: no command "
                                     "could be delivered; set CJO_WEBHOOK_URL")
        try:
            headers = headers_of(config.secret(e, "CJO_WEBHOOK_HEADERS"))
        except ValueError as err:  # (the reason names a header, never a value)
            raise config.ConfigError(f"CJO_WEBHOOK_HEADERS: {err}") from None
        return cls(url=url and config.http_url(url, "CJO_WEBHOOK_URL"),
                   signing_key=config.signing_key(e, "CJO_WEBHOOK_SIGNING_KEY"),
                   timeout=timeout_from_env(e, "CJO_WEBHOOK_TIMEOUT"), allow_to_url=allow_to_url,
                   allow_private=config.boolean(e, "CJO_WEBHOOK_ALLOW_PRIVATE", False),
                   headers=tuple(headers.items()))


class WebhookChannel(HttpChannel):
    name = "webhook"

    def __init__(self, cfg: WebhookConfig, resolver: AbstractResolver | None = None) -> None:
        """``resolver``: how a `to:` URL's name is looked up (default aiohttp's: getaddrinfo in a thread)."""
        super().__init__(cfg.timeout)
        self.cfg = cfg
        # A `to:` rendered from event data goes through a session of its own whose resolver refuses
        # non-public addresses (adapters.public_only); CJO_WEBHOOK_URL is the operator's and is not checked.
        self._public = None if cfg.allow_private else PublicOnlyResolver(PRIVATE_SETTING, resolver)
        self._to = self if self._public is None else HttpChannel(cfg.timeout, resolver=self._public)

    def url_for(self, cmd: DeliveryCommand) -> str:
        if self.cfg.allow_to_url and cmd.to and cmd.to.startswith(("http://", "https://")):
            return cmd.to
        if not self.cfg.url:
            raise PermanentError("no webhook URL: set CJO_WEBHOOK_URL or give the send step an http(s) `to:`")
        return self.cfg.url

    def build(self, cmd: DeliveryCommand, now: float | None = None) -> tuple[str, bytes, dict[str, str]]:
        """The method, the exact body and the headers of the request (signed over these body bytes): the whole
        command POSTed, or with a ``method`` in the content the step's own request; a rendered method or
        headers that cannot be sent fail the send for good (PermanentError: no retry mends them)."""
        content = cmd.content
        if "method" in content:
            try:
                method = method_of(content["method"])
                headers = headers_of(content.get("headers", ""))
            except ValueError as e:
                raise PermanentError(f"content: {e}") from None
            body = content.get("body", "").encode()
            if method == "GET" and body:
                raise PermanentError("content: a GET sends no body")
            kind = content.get("content_type", "").strip() or "application/json"
            if "\r" in kind or "\n" in kind:
                raise PermanentError("content: content_type holds a line break")
        else:
            method, body, headers, kind = "POST", _encode(cmd), {}, "application/json"
        if self.cfg.headers:  # the operator's (an API key) over the step's, whatever their case
            own = {name.lower() for name, _ in self.cfg.headers}
            headers = {k: v for k, v in headers.items() if k.lower() not in own}
            headers.update(self.cfg.headers)
        headers.update({"Content-Type": kind, "Idempotency-Key": cmd.delivery_id, "X-CJO-Delivery-Id": cmd.delivery_id})
        if self.cfg.signing_key:
            headers.update(sign(self.cfg.signing_key, body, now))
        return method, body, headers

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        url = self.url_for(cmd)
        via: HttpChannel = self
        if url is cmd.to and not self.cfg.allow_private:
            refuse_literal(urlsplit(url).hostname or "", PRIVATE_SETTING)
            via = self._to
        method, body, headers = self.build(cmd)
        resp = await via.request(method, url, content=body, headers=headers)
        failure = classify(resp)
        if failure is not None:
            return failure
        return DeliveryResult.sent(provider_id(json_field(resp, "id")) or provider_id(resp.headers.get("X-Request-Id")),
                                   response=response_summary(resp.status, resp.body))

    async def close(self) -> None:
        if self._public is not None:
            await self._to.close()
            await self._public.close()  # aiohttp closes only the resolvers it made
        await super().close()
