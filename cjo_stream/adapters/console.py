"""``console``: print each command as one line on stdout (the demo default; no provider needed).

It consumes the delivery topics of every channel, or of those listed in ``CJO_CONSOLE_CHANNELS``
(e.g. ``sms,push`` when real email and webhook adapters run next to it: otherwise both would handle
those commands). Each printed command gets a ``sent`` receipt, so journeys waiting for
``message_sent`` advance in a demo. The text format shows channel, journey/step, customer and the
subject or text — never the address; ``CJO_CONSOLE_FORMAT=json`` prints the whole command instead
(it then includes ``to``: for local use).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import msgspec

from cjo_stream.adapters import config
from cjo_stream.adapters.base import DeliveryResult, content_text
from cjo_stream.commands import ALL_CHANNELS, DeliveryCommand

_encode = msgspec.json.Encoder().encode


def line(cmd: DeliveryCommand) -> str:
    text = content_text(cmd, "subject", "title", "text", "body").replace("\n", " ")[:70]
    route = f"{cmd.journey}/{cmd.step}"  # padded as a whole: the columns after it line up
    return (f"{time.strftime('%H:%M:%S')}  {cmd.channel:<7} {route:<28} customer={cmd.customer_id:<10} "
            f"{cmd.delivery_id}  {text}")


def sources_from_env(env: config.Env | None = None) -> list[str]:
    """Channels whose commands the console adapter prints (``CJO_CONSOLE_CHANNELS``, default all)."""
    raw = config.get(config.env_of(env), "CJO_CONSOLE_CHANNELS")
    if not raw:
        return sorted(ALL_CHANNELS)
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL_CHANNELS]
    if unknown or not names:
        raise config.ConfigError(f"CJO_CONSOLE_CHANNELS={raw!r}: use a comma-separated list of "
                                 f"{', '.join(sorted(ALL_CHANNELS))}")
    return names


class ConsoleChannel:
    name = "console"

    def __init__(self, stream: TextIO | None = None, fmt: str = "text") -> None:
        if fmt not in ("text", "json"):
            raise config.ConfigError(f"CJO_CONSOLE_FORMAT={fmt!r}: use text or json")
        self.stream = stream
        self.fmt = fmt

    @classmethod
    def from_env(cls, env: config.Env | None = None) -> ConsoleChannel:
        return cls(fmt=config.get(config.env_of(env), "CJO_CONSOLE_FORMAT", "text").lower())

    async def start(self) -> None:
        pass

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        out = self.stream or sys.stdout
        out.write((_encode(cmd).decode() if self.fmt == "json" else line(cmd)) + "\n")
        out.flush()
        return DeliveryResult.sent()

    async def close(self) -> None:
        pass
