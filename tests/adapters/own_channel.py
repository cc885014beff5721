"""A channel of a deployment's own, written as a user would (docs/adapters.md, "Your own channel"): WhatsApp
through an in-house HTTP API, with its own HTTP client. The tests run it through the real command line:
``cjo-stream adapter --channel myco_whatsapp --channel-class tests.adapters.own_channel:WhatsApp``."""

from __future__ import annotations

import os

import httpx

from cjo_stream.adapters.base import BaseChannel, DeliveryResult, PermanentError, TransientError
from cjo_stream.adapters.config import ConfigError
from cjo_stream.commands import DeliveryCommand


class WhatsApp(BaseChannel):
    def __init__(self) -> None:
        self.url = os.environ.get("MYCO_WA_URL", "")
        if not self.url:
            raise ConfigError("MYCO_WA_URL is not set: the messaging API's URL")
        self.client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self.client = httpx.AsyncClient(timeout=5)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        assert self.client is not None
        if not cmd.to:
            raise PermanentError("no WhatsApp number", bounced=True)
        try:
            reply = await self.client.post(self.url, json={"to": cmd.to, "text": cmd.content.get("body", "")},
                                           headers={"Idempotency-Key": cmd.delivery_id})
        except httpx.TransportError as e:
            raise TransientError(f"connection error ({type(e).__name__})") from None
        if reply.status_code == 429 or reply.status_code >= 500:
            return DeliveryResult.transient(f"HTTP {reply.status_code}")
        if reply.status_code >= 400:
            return DeliveryResult.permanent(f"HTTP {reply.status_code}")
        return DeliveryResult.sent(reply.json().get("id"))
