"""Per-channel token bucket, so a burst of commands does not get our sender account throttled or blocked.

Providers publish sending limits (SMTP relays per second, Twilio per number, Slack about one message
per second per webhook). The bucket lets short bursts through up to ``burst`` and then paces to
``rate``. The limit is per adapter process: with N adapters for a channel, give each rate/N.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from cjo_stream.adapters import config

#: Defaults per channel (messages per second); ``CJO_RATE_<CHANNEL>`` overrides, ``off`` disables.
DEFAULT_RATES: dict[str, float | None] = {
    "email": 50.0, "sms": 10.0, "push": 500.0, "in_app": None, "webhook": 100.0, "slack": 1.0, "crm": 20.0,
    "console": None,
}


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` stored. Time comes from an injectable clock."""

    def __init__(self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self.clock = clock
        self.tokens = self.burst
        self.updated = clock()

    def _refill(self) -> None:
        now = self.clock()
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def reserve(self) -> float:
        """Take one token now and return how long to wait before using it (0 if one was available).

        Reserving (the balance may go negative) rather than polling keeps waiters first-come first-served.
        """
        self._refill()
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    async def acquire(self, sleep: Callable[[float], Awaitable[None]]) -> float:
        wait = self.reserve()
        if wait > 0:
            await sleep(wait)
        return wait


def bucket_from_env(channel: str, env: config.Env | None = None,
                    clock: Callable[[], float] = time.monotonic) -> TokenBucket | None:
    """The bucket for ``channel`` from ``CJO_RATE_<CHANNEL>`` and ``CJO_RATE_<CHANNEL>_BURST``; ``None`` = unlimited."""
    e = config.env_of(env)
    name = f"CJO_RATE_{channel.upper()}"
    raw = config.get(e, name)
    rate = config.parse_rate(raw, name) if raw else DEFAULT_RATES.get(channel)
    if rate is None:
        return None
    burst_raw = config.get(e, f"{name}_BURST")
    burst: float | None = None
    if burst_raw:
        try:
            burst = float(burst_raw)
        except ValueError:
            raise config.ConfigError(f"{name}_BURST={burst_raw!r} is not a number") from None
        if not 1 <= burst < float("inf"):  # inf lifted the limit; nan and -5 were read as 1
            raise config.ConfigError(f"{name}_BURST={burst_raw!r}: messages, 1 or more")
    return TokenBucket(rate, burst, clock)
