"""``console``: print each command as one line on stdout (the demo default; no provider needed).

It consumes the delivery topics of every channel — the built-in ones and those declared in the
``policies.yaml`` of ``CJO_TOPOLOGIES`` — or of those listed in ``CJO_CONSOLE_CHANNELS`` (e.g. ``sms,push`` when
real email and webhook adapters run next to it: otherwise both would handle those commands). Each printed command gets a ``sent`` receipt, so journeys waiting for
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
from cjo_stream.errors import existing_dir

_encode = msgspec.json.Encoder().encode


def line(cmd: DeliveryCommand) -> str:
    text = content_text(cmd, "subject", "title", "text", "body").replace("\n", " ")[:70]
    route = f"{cmd.journey}/{cmd.step}"  # padded as a whole: the columns after it line up
    return (f"{time.strftime('%H:%M:%S')}  {cmd.channel:<7} {route:<28} customer={cmd.customer_id:<10} "
            f"{cmd.delivery_id}  {text}")


def sources_from_env(env: config.Env | None = None) -> list[str]:
    """Channels whose commands the console adapter prints (``CJO_CONSOLE_CHANNELS``, default all): built in, or
    declared in ``policies.yaml`` of ``CJO_TOPOLOGIES`` (default ``topologies``), read only when needed."""
    from cjo_stream.journeys.policies import topology_policies, unknown_channel
    from cjo_stream.journeys.source import SourceError

    e = config.env_of(env)
    raw = config.get(e, "CJO_CONSOLE_CHANNELS")
    names = list(dict.fromkeys(n.strip() for n in (raw or "").split(",") if n.strip()))
    if raw and not names:
        raise config.ConfigError(f"CJO_CONSOLE_CHANNELS={raw!r}: use a comma-separated list of channels, e.g. sms,push")
    if names and all(n in ALL_CHANNELS for n in names):
        return names  # built-in ones only: policies.yaml is not needed
    root = config.get(e, "CJO_TOPOLOGIES") or "topologies"
    if config.get(e, "CJO_TOPOLOGIES"):  # a mistyped one left out its declared channels without a word (exit 3)
        existing_dir(root, "topologies directory (CJO_TOPOLOGIES, where the console adapter reads the channels "
                           "policies.yaml declares)")
    try:
        policies = topology_policies(root)
    except SourceError as err:
        raise config.ConfigError(f"cannot read the channels declared in {err.problems[0]} (the console adapter "
                                 "reads them from CJO_TOPOLOGIES)") from None
    for n in names:
        problem = unknown_channel(n, policies, root)
        if problem is not None:
            raise config.ConfigError(f"CJO_CONSOLE_CHANNELS={raw!r}: {problem}")
    return names or sorted(policies.channel_names)


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
