"""When a command is too old to send: its ``expires_at``, else ``decided_at`` plus a channel default.

A "your cart is waiting" SMS that arrives two days late (after an outage, or when an adapter replays a
backlog) does more harm than good, so stale commands get an ``expired`` receipt instead of a send.
Defaults are per channel and configurable with ``CJO_EXPIRY_<CHANNEL>`` (a duration; ``off`` = never); a
channel of your own has :data:`CUSTOM_EXPIRY` (as sms, push and webhook) unless its variable says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cjo_stream.adapters import config
from cjo_stream.commands import DeliveryCommand
from cjo_stream.events import parse_ts

DEFAULT_EXPIRY: dict[str, float | None] = {
    "email": 3 * 86400.0, "sms": 86400.0, "push": 86400.0, "in_app": 7 * 86400.0,
    "webhook": 86400.0, "slack": 86400.0, "crm": 7 * 86400.0,
}
CUSTOM_EXPIRY = 86400.0


@dataclass(frozen=True)
class ExpiryPolicy:
    defaults: Mapping[str, float | None] = field(default_factory=lambda: dict(DEFAULT_EXPIRY))

    @classmethod
    def from_env(cls, env: config.Env | None = None, channels: Sequence[str] = ()) -> ExpiryPolicy:
        """The built-in channels' and ``channels``' (of your own: :data:`CUSTOM_EXPIRY` by default)."""
        e = config.env_of(env)
        out: dict[str, float | None] = {}
        for channel, default in {**{c: CUSTOM_EXPIRY for c in channels}, **DEFAULT_EXPIRY}.items():
            name = f"CJO_EXPIRY_{channel.upper()}"
            raw = config.get(e, name)
            if not raw:
                out[channel] = default
            elif raw.lower() in ("off", "none", "never", "0"):
                out[channel] = None
            else:
                out[channel] = config.parse_duration(raw, name)
        return cls(out)

    def longest(self, channels: Sequence[str]) -> float | None:
        """The longest default expiry of ``channels`` (``None``: one of them never expires)."""
        ages = [self.defaults.get(c) for c in channels]
        if not ages or any(a is None for a in ages):
            return None
        return max(a for a in ages if a is not None)

    def deadline(self, cmd: DeliveryCommand) -> float | None:
        """Epoch seconds after which ``cmd`` must not be sent, or ``None`` if it never expires.

        An unreadable time is treated as "no deadline" rather than dropping the message; the engine
        always writes RFC 3339 times, so this only matters for hand-made commands.
        """
        if cmd.expires_at:
            try:
                return parse_ts(cmd.expires_at)
            except ValueError:
                return None
        ttl = self.defaults.get(cmd.channel)
        if ttl is None:
            return None
        try:
            return parse_ts(cmd.decided_at) + ttl
        except ValueError:
            return None

    def expired(self, cmd: DeliveryCommand, now: float) -> bool:
        deadline = self.deadline(cmd)
        return deadline is not None and now >= deadline
