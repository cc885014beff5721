"""``in_app``: append the message to the customer's inbox, the topic ``cjo.inbox`` keyed by customer id.

Apps (or a small inbox service) read the topic: all of one customer's messages are in one partition,
in order, so "the last N messages of customer X" is a keyed scan, and a compacting consumer can build
per-customer inbox state. Each record is :class:`InboxMessage` as JSON; ``delivery_id`` lets readers
drop the rare duplicate. The provider message id is ``<topic>:<partition>:<offset>``.
"""

from __future__ import annotations

import time

import msgspec
from aiokafka import AIOKafkaProducer

from cjo_stream.adapters import config
from cjo_stream.adapters.base import DeliveryResult, TransientError, utc_now_iso
from cjo_stream.commands import DeliveryCommand
from cjo_stream.config import kafka_name

DEFAULT_TOPIC = "cjo.inbox"


class InboxMessage(msgspec.Struct, kw_only=True, omit_defaults=True):
    delivery_id: str
    customer_id: str
    journey: str
    step: str
    content: dict[str, str]
    sent_at: str
    variant: str | None = None
    expires_at: str | None = None


_encode = msgspec.json.Encoder().encode


def inbox_topic(env: config.Env | None = None) -> str:
    """``CJO_INBOX_TOPIC``, checked at start: a name Kafka refuses failed only when the adapter made its topics."""
    topic = config.get(config.env_of(env), "CJO_INBOX_TOPIC", DEFAULT_TOPIC)
    if not kafka_name(topic):
        raise config.ConfigError(f"CJO_INBOX_TOPIC={topic!r}: Kafka names are 1 to 249 characters of A-Z, a-z, "
                                 "0-9, '.', '_' and '-'")
    return topic


class InAppChannel:
    """Writes with the adapter's own producer (``acks=all``): "sent" means the broker has the message."""

    name = "in_app"

    def __init__(self, producer: AIOKafkaProducer, topic: str = DEFAULT_TOPIC) -> None:
        self.producer = producer
        self.topic = topic
        self.output_topics = (topic,)  # the runner creates it and keeps its metadata

    async def start(self) -> None:
        pass

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        msg = InboxMessage(delivery_id=cmd.delivery_id, customer_id=cmd.customer_id, journey=cmd.journey,
                           step=cmd.step, content=cmd.content, sent_at=utc_now_iso(time.time()),
                           variant=cmd.variant, expires_at=cmd.expires_at)
        try:
            fut = await self.producer.send(self.topic, _encode(msg), key=cmd.customer_id.encode(),
                                           headers=[("cjo.delivery_id", cmd.delivery_id.encode())])
            meta = await fut
        except Exception as e:  # KafkaError, timeouts: the broker did not confirm
            raise TransientError(f"inbox write failed ({type(e).__name__})") from None
        return DeliveryResult.sent(f"{meta.topic}:{meta.partition}:{meta.offset}")

    async def close(self) -> None:
        pass
