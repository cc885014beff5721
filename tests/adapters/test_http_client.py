"""``HttpChannel``, the base the docs' own channel subclasses: what a subclass may forget."""

from __future__ import annotations

from cjo_stream.adapters.base import DeliveryResult, attempt
from cjo_stream.adapters.http_client import HttpChannel, classify, json_field
from cjo_stream.commands import DeliveryCommand
from tests.adapters.conftest import Answer, Receiver, command


class FetchesAToken(HttpChannel):
    """Overrides start() for a token of its own and forgets super().start()."""

    def __init__(self, url: str) -> None:
        super().__init__(timeout=5)
        self.url = url
        self.token = ""

    async def start(self) -> None:
        self.token = "t-1"

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        reply = await self.request("POST", self.url, json={"to": cmd.to},
                                   headers={"Authorization": f"Bearer {self.token}"})
        return classify(reply) or DeliveryResult.sent(json_field(reply, "id"))


async def test_a_start_that_does_not_call_super_still_gets_a_session(receiver: Receiver) -> None:
    """Every message failed with ``unexpected AssertionError``, was retried and dead-lettered."""
    receiver.script("/v1/messages", Answer(200, json={"id": "wamid.1"}))
    channel = FetchesAToken(f"{receiver.url}/v1/messages")
    await channel.start()
    try:
        result = await attempt(channel, command(channel="myco_whatsapp", to="+4915100000"))
    finally:
        await channel.close()
    assert (result.outcome, result.provider_message_id) == ("sent", "wamid.1")
