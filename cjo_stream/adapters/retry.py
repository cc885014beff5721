"""Retries of transient failures: exponential backoff with full jitter, Retry-After honoured, bounded budget.

Full jitter (a uniform draw in ``[0, min(max_delay, base·2^n)]``) spreads the retries of many adapters
that failed at the same moment, so a provider recovering from an outage is not hit by synchronized
waves. A provider's ``Retry-After`` is a floor: we never come back earlier than asked. The budget
(attempts and total seconds) bounds how long one command can hold up its batch; past it the command
goes to the dead-letter topic, from where an operator can replay it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from cjo_stream.adapters import config
from cjo_stream.adapters.base import DeliveryResult


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6  # attempts in total, the first included
    base_delay: float = 0.5
    max_delay: float = 60.0
    budget: float = 300.0  # seconds from the first attempt after which no further attempt starts

    @classmethod
    def from_env(cls, env: config.Env | None = None) -> RetryPolicy:
        e = config.env_of(env)
        d = cls()
        policy = cls(max_attempts=config.integer(e, "CJO_RETRY_MAX_ATTEMPTS", d.max_attempts, minimum=1),
                     base_delay=config.duration(e, "CJO_RETRY_BASE_DELAY", d.base_delay),
                     max_delay=config.duration(e, "CJO_RETRY_MAX_DELAY", d.max_delay),
                     budget=config.duration(e, "CJO_RETRY_BUDGET", d.budget))
        if policy.base_delay > policy.max_delay:
            raise config.ConfigError("CJO_RETRY_BASE_DELAY must not exceed CJO_RETRY_MAX_DELAY")
        return policy

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """Full-jitter delay before retry number ``retry`` (1 = the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (retry - 1)))
        return (rng or random).uniform(0.0, ceiling)

    def delay(self, retry: int, retry_after: float | None, rng: random.Random | None = None) -> float:
        jittered = self.backoff(retry, rng)
        return max(jittered, retry_after) if retry_after is not None else jittered


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    """The final result, how many attempts it took, and why we stopped retrying (if we gave up)."""

    result: DeliveryResult
    attempts: int
    gave_up: str | None = None


async def run_with_retries(call: Callable[[], Awaitable[DeliveryResult]], policy: RetryPolicy, *,
                           sleep: Callable[[float], Awaitable[None]],
                           clock: Callable[[], float] = time.monotonic,
                           rng: random.Random | None = None,
                           on_retry: Callable[[DeliveryResult, float], None] | None = None) -> RetryOutcome:
    """Call until sent or permanently failed, retrying transient results within ``policy``.

    ``sleep`` and ``clock`` are injected so tests run without waiting and the runner can interrupt a
    backoff when it is asked to stop.
    """
    start = clock()
    attempt = 0
    while True:
        attempt += 1
        result = await call()
        if result.outcome != "transient":
            return RetryOutcome(result, attempt)
        if attempt >= policy.max_attempts:
            return RetryOutcome(result, attempt, f"gave up after {attempt} attempts")
        wait = policy.delay(attempt, result.retry_after, rng)
        if clock() - start + wait > policy.budget:
            why = "Retry-After exceeds the retry budget" if (result.retry_after or 0) > policy.budget else \
                "retry budget exhausted"
            return RetryOutcome(result, attempt, f"{why} ({policy.budget:g}s) after {attempt} attempts")
        if on_retry is not None:
            on_retry(result, wait)
        await sleep(wait)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; ``None`` if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
