"""Build a channel by name from the environment (``cjo-stream adapter --channel <name>``)."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from cjo_stream.adapters import config
from cjo_stream.adapters.base import Channel

CHANNEL_NAMES = ("console", "email", "sms", "push", "in_app", "webhook", "slack", "crm")


def make_channel(name: str, env: config.Env | None = None, producer: AIOKafkaProducer | None = None) -> Channel:
    """The channel ``name`` configured from ``env``; raises :class:`config.ConfigError` with what to set.

    ``in_app`` writes with ``producer`` (the adapter's own Kafka producer).
    """
    e = config.env_of(env)
    if name == "console":
        from cjo_stream.adapters.console import ConsoleChannel

        return ConsoleChannel.from_env(e)
    if name == "email":
        from cjo_stream.adapters.email import EmailChannel, EmailConfig

        return EmailChannel(EmailConfig.from_env(e))
    if name == "webhook":
        from cjo_stream.adapters.webhook import WebhookChannel, WebhookConfig

        return WebhookChannel(WebhookConfig.from_env(e))
    if name == "slack":
        from cjo_stream.adapters.slack import SlackChannel, SlackConfig

        return SlackChannel(SlackConfig.from_env(e))
    if name == "crm":
        from cjo_stream.adapters.crm import CrmChannel, CrmConfig

        return CrmChannel(CrmConfig.from_env(e))
    if name == "sms":
        from cjo_stream.adapters.sms import SmsChannel, SmsConfig

        return SmsChannel(SmsConfig.from_env(e))
    if name == "push":
        from cjo_stream.adapters.push import PushChannel, PushConfig

        return PushChannel(PushConfig.from_env(e))
    if name == "in_app":
        from cjo_stream.adapters.in_app import InAppChannel, inbox_topic

        if producer is None:
            raise ValueError("the in_app channel needs the adapter's Kafka producer")
        return InAppChannel(producer, inbox_topic(e))
    raise config.ConfigError(f"unknown channel {name!r}: use one of {', '.join(CHANNEL_NAMES)}")
