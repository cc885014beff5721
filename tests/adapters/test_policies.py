"""Retry, rate limit, expiry, signing and configuration: pure units with injected clocks (no sleeping)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cjo_stream.adapters import config
from cjo_stream.adapters.base import DeliveryResult, PermanentError, TransientError, attempt
from cjo_stream.adapters.expiry import ExpiryPolicy
from cjo_stream.adapters.ratelimit import TokenBucket, bucket_from_env
from cjo_stream.adapters.retry import RetryPolicy, parse_retry_after, run_with_retries
from cjo_stream.adapters.signing import sign, signature, verify
from cjo_stream.commands import DeliveryCommand
from tests.adapters.conftest import command


class FakeClock:
    """Time that only moves when someone sleeps (or the test moves it)."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def clock() -> FakeClock:
    return FakeClock()


# ---------------------------------------------------------------------------- token bucket


def test_bucket_allows_burst_then_paces_to_rate() -> None:
    c = clock()
    b = TokenBucket(rate=10, burst=3, clock=c)
    assert [b.reserve() for _ in range(3)] == [0, 0, 0]
    assert b.reserve() == pytest.approx(0.1)  # the 4th waits one token interval
    assert b.reserve() == pytest.approx(0.2)  # reservations queue up, first come first served
    c.t += 0.2  # both reserved tokens have now been refilled
    assert b.reserve() == pytest.approx(0.1)


def test_bucket_refill_is_capped_at_burst() -> None:
    c = clock()
    b = TokenBucket(rate=5, burst=2, clock=c)
    b.reserve(), b.reserve()
    c.t += 100  # a long idle period does not bank more than the burst
    assert [b.reserve() for _ in range(2)] == [0, 0]
    assert b.reserve() == pytest.approx(0.2)


@given(st.floats(0.5, 500), st.integers(1, 200))
def test_bucket_never_exceeds_rate_plus_burst(rate: float, n: int) -> None:
    c = clock()
    b = TokenBucket(rate=rate, clock=c)
    start = c.t
    last_due = start
    for _ in range(n):
        last_due = max(last_due, c.t + b.reserve())
    # n sends need at least (n - burst) / rate seconds
    assert last_due - start >= (n - b.burst) / rate - 1e-9


async def test_bucket_acquire_sleeps_via_injected_sleep() -> None:
    c = clock()
    b = TokenBucket(rate=2, burst=1, clock=c)
    assert await b.acquire(c.sleep) == 0
    assert await b.acquire(c.sleep) == pytest.approx(0.5)
    assert c.slept == [pytest.approx(0.5)]


def test_bucket_from_env() -> None:
    assert bucket_from_env("email", {"CJO_RATE_EMAIL": "3000/m"}).rate == pytest.approx(50)  # type: ignore[union-attr]
    b = bucket_from_env("sms", {"CJO_RATE_SMS": "5/s", "CJO_RATE_SMS_BURST": "20"})
    assert b is not None and (b.rate, b.burst) == (5, 20)
    assert bucket_from_env("webhook", {"CJO_RATE_WEBHOOK": "off"}) is None
    assert bucket_from_env("slack", {}).rate == 1.0  # type: ignore[union-attr]  # the per-channel default
    assert bucket_from_env("in_app", {}) is None
    with pytest.raises(config.ConfigError, match="CJO_RATE_EMAIL"):
        bucket_from_env("email", {"CJO_RATE_EMAIL": "fast"})


@pytest.mark.parametrize(("text", "per_second"), [("50/s", 50), ("50", 50), ("3000/m", 50), ("3600/h", 1),
                                                  ("5/10s", 0.5), ("120/min", 2), ("0", None), ("0/s", None),
                                                  ("off", None)])
def test_parse_rate(text: str, per_second: float | None) -> None:
    assert config.parse_rate(text) == (pytest.approx(per_second) if per_second else None)


# ---------------------------------------------------------------------------- retries


def test_backoff_is_full_jitter_within_exponential_ceiling() -> None:
    p = RetryPolicy(base_delay=0.5, max_delay=8)
    rng = random.Random(7)
    for retry, ceiling in [(1, 0.5), (2, 1), (3, 2), (4, 4), (5, 8), (9, 8)]:
        draws = [p.backoff(retry, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8  # spread over the whole range, not a fixed delay


def test_retry_after_is_a_floor() -> None:
    p = RetryPolicy(base_delay=0.5, max_delay=8)
    rng = random.Random(1)
    assert all(p.delay(1, 30.0, rng) == 30.0 for _ in range(50))
    assert all(1.0 <= p.delay(5, 1.0, rng) <= 8 for _ in range(50))


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after("1.5") == 1.5
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC).timestamp()
    date = format_datetime(datetime(2026, 3, 2, 10, 2, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(date, now=now) == 120
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def scripted(*results: DeliveryResult):  # type: ignore[no-untyped-def]
    calls: list[int] = []
    queue = list(results)

    async def call() -> DeliveryResult:
        calls.append(1)
        return queue.pop(0)

    return call, calls


async def test_transient_then_sent() -> None:
    c = clock()
    call, calls = scripted(DeliveryResult.transient("HTTP 500"), DeliveryResult.transient("HTTP 503"),
                           DeliveryResult.sent("m-1"))
    out = await run_with_retries(call, RetryPolicy(base_delay=1, max_delay=4), sleep=c.sleep, clock=c,
                                 rng=random.Random(3))
    assert out.result.outcome == "sent" and out.attempts == 3 and out.gave_up is None
    assert len(c.slept) == 2 and 0 <= c.slept[0] <= 1 and 0 <= c.slept[1] <= 2


async def test_permanent_is_not_retried() -> None:
    c = clock()
    call, calls = scripted(DeliveryResult.permanent("HTTP 400"))
    out = await run_with_retries(call, RetryPolicy(), sleep=c.sleep, clock=c)
    assert out.result.outcome == "permanent" and out.attempts == 1 and c.slept == []


async def test_gives_up_after_max_attempts() -> None:
    c = clock()
    call, calls = scripted(*[DeliveryResult.transient("HTTP 503")] * 5)
    out = await run_with_retries(call, RetryPolicy(max_attempts=3), sleep=c.sleep, clock=c)
    assert out.attempts == 3 and len(calls) == 3 and out.gave_up == "gave up after 3 attempts"


async def test_honours_retry_after_and_budget() -> None:
    c = clock()
    call, calls = scripted(DeliveryResult.transient("HTTP 429", retry_after=20),
                           DeliveryResult.transient("HTTP 429", retry_after=50), DeliveryResult.sent())
    out = await run_with_retries(call, RetryPolicy(budget=60), sleep=c.sleep, clock=c)
    # waited the 20s asked for; the next 50s would end past the 60s budget: give up rather than wait
    assert c.slept == [20] and out.attempts == 2 and out.result.retry_after == 50
    assert out.gave_up is not None and "budget" in out.gave_up


async def test_attempt_folds_exceptions_into_results() -> None:
    class Boom:
        name = "boom"

        def __init__(self, exc: Exception) -> None:
            self.exc = exc

        async def start(self) -> None: ...
        async def close(self) -> None: ...

        async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
            raise self.exc

    cmd = command()
    assert (await attempt(Boom(TransientError("timeout", 3)), cmd)) == DeliveryResult.transient("timeout", 3)
    r = await attempt(Boom(PermanentError("bad address", bounced=True)), cmd)
    assert (r.outcome, r.status) == ("permanent", "bounced")
    r = await attempt(Boom(KeyError("ada@example.com")), cmd)
    # the message (an address) is not kept; where it was raised is
    assert r.outcome == "transient" and r.reason is not None and r.reason.startswith("unexpected KeyError at ")
    assert "ada@" not in r.reason


# ---------------------------------------------------------------------------- expiry


def test_expiry_from_command_or_channel_default() -> None:
    policy = ExpiryPolicy.from_env({"CJO_EXPIRY_SMS": "2h", "CJO_EXPIRY_WEBHOOK": "off"})
    decided = "2026-03-02T10:00:00Z"
    t0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC).timestamp()
    sms = command(channel="sms", decided_at=decided)
    assert not policy.expired(sms, t0 + 7199) and policy.expired(sms, t0 + 7200)
    explicit = command(channel="sms", decided_at=decided, expires_at="2026-03-02T10:05:00Z")
    assert not policy.expired(explicit, t0 + 299) and policy.expired(explicit, t0 + 300)
    assert policy.deadline(command(channel="webhook", decided_at=decided)) is None
    assert policy.deadline(command(channel="email", decided_at=decided)) == t0 + 3 * 86400  # default 3 days
    with pytest.raises(config.ConfigError, match="CJO_EXPIRY_EMAIL"):
        ExpiryPolicy.from_env({"CJO_EXPIRY_EMAIL": "later"})


# ---------------------------------------------------------------------------- signatures


def test_signature_roundtrip_and_refusals() -> None:
    key, body = b"k3y", b'{"delivery_id":"d1"}'
    headers = sign(key, body, now=1_700_000_000)
    ts, sig = headers["X-CJO-Timestamp"], headers["X-CJO-Signature"]
    assert ts == "1700000000" and sig == signature(key, ts, body) and sig.startswith("sha256=")
    assert verify(key, body, ts, sig, now=1_700_000_100) is None
    assert "does not match" in (verify(key, body + b" ", ts, sig, now=1_700_000_000) or "")
    assert "does not match" in (verify(b"other", body, ts, sig, now=1_700_000_000) or "")
    assert "replay" in (verify(key, body, ts, sig, now=1_700_001_000) or "")
    assert "missing" in (verify(key, body, None, sig) or "")


# ---------------------------------------------------------------------------- configuration helpers


def test_secret_from_env_or_file(tmp_path: pytest.TempPathFactory) -> None:
    f = tmp_path / "pw"  # type: ignore[operator]
    f.write_text("hunter2\n")
    assert config.secret({"CJO_SMTP_PASSWORD": "a"}, "CJO_SMTP_PASSWORD") == "a"
    assert config.secret({"CJO_SMTP_PASSWORD_FILE": str(f)}, "CJO_SMTP_PASSWORD") == "hunter2"
    with pytest.raises(config.ConfigError, match="CJO_SMTP_PASSWORD_FILE") as e:
        config.secret({"CJO_SMTP_PASSWORD_FILE": str(f) + ".missing"}, "CJO_SMTP_PASSWORD")
    assert "hunter2" not in str(e.value)
    with pytest.raises(config.ConfigError, match=r"CJO_X \(or CJO_X_FILE\) is not set"):
        config.secret({}, "CJO_X", required=True, what="needed")


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("250ms", 0.25), ("15m", 900), ("24h", 86400),
                                               ("7d", 604800), ("1.5s", 1.5)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert config.parse_duration(text) == seconds


@pytest.mark.parametrize(("env", "message"), [
    # 99999999999w ended the adapter with aiokafka's traceback (exit 70); 0 never kept its group membership
    ({"CJO_ADAPTER_SESSION_TIMEOUT": "99999999999w"}, "CJO_ADAPTER_SESSION_TIMEOUT='99999999999w': from 1s to 30m"),
    ({"CJO_ADAPTER_SESSION_TIMEOUT": "0"}, "CJO_ADAPTER_SESSION_TIMEOUT='0': from 1s to"),
    ({"CJO_SENT_RETENTION": "99999999999w"}, "CJO_SENT_RETENTION='99999999999w': at most 36500d"),
    ({"CJO_ADAPTER_STOP_GRACE": "2h"}, "CJO_ADAPTER_STOP_GRACE='2h': at most 1h"),
    ({"CJO_RATE_CONSOLE": "5/0s"}, "CJO_RATE_CONSOLE='5/0s': the period must be longer than 0"),  # ZeroDivisionError
    ({"CJO_RATE_CONSOLE": "5/s", "CJO_RATE_CONSOLE_BURST": "inf"}, "CJO_RATE_CONSOLE_BURST='inf': messages, 1 or more"),
    ({"CJO_RATE_CONSOLE": "5/s", "CJO_RATE_CONSOLE_BURST": "nan"}, "CJO_RATE_CONSOLE_BURST='nan'"),
    ({"CJO_RETRY_BUDGET": "9" * 400}, "CJO_RETRY_BUDGET="),
])
def test_out_of_range_adapter_settings_are_refused(env: dict[str, str], message: str) -> None:
    from cjo_stream.adapters.service import AdapterOptions, check_config

    with pytest.raises(config.ConfigError) as e:
        check_config(AdapterOptions.from_env("console", env), env)
    assert message in str(e.value)


@pytest.mark.parametrize(("env", "grace"), [({}, 15.0), ({"CJO_ADAPTER_STOP_GRACE": "3s"}, 3.0),
                                             ({"CJO_ADAPTER_STOP_GRACE": "0"}, 0.0)])
async def test_the_stop_grace_comes_from_the_environment(env: dict[str, str], grace: float) -> None:
    """How long provider calls in flight may take after SIGTERM (then cut off): the adapter runs where the
    pod's terminationGracePeriodSeconds bounds it."""
    from cjo_stream.adapters.service import AdapterOptions, build_runner
    from cjo_stream.config import Settings

    env = {"CJO_WEBHOOK_URL": "http://127.0.0.1:9/hook", **env}
    runner = build_runner(Settings(), AdapterOptions.from_env("webhook", env), env)
    await runner.producer.stop()  # (never started: nothing connected)
    assert runner.stop_grace == grace


@pytest.mark.parametrize("var", ["CJO_WEBHOOK_TIMEOUT", "CJO_SMTP_TIMEOUT"])
def test_a_timeout_of_zero_is_refused(var: str) -> None:
    """0 (or 0ms) failed every delivery at once as if the provider were down."""
    from cjo_stream.adapters.email import EmailConfig
    from cjo_stream.adapters.webhook import WebhookConfig

    env = {var: "0ms", "CJO_WEBHOOK_URL": "https://example.invalid/h", "CJO_EMAIL_FROM": "a@example.invalid",
           "CJO_SMTP_HOST": "localhost"}
    with pytest.raises(config.ConfigError, match=f"{var}='0ms': from 0.001s to 36500d"):
        (WebhookConfig if "WEBHOOK" in var else EmailConfig).from_env(env)


def test_retry_policy_from_env() -> None:
    p = RetryPolicy.from_env({"CJO_RETRY_MAX_ATTEMPTS": "3", "CJO_RETRY_BASE_DELAY": "100ms",
                              "CJO_RETRY_MAX_DELAY": "5s", "CJO_RETRY_BUDGET": "1m"})
    assert p == RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=5, budget=60)
    with pytest.raises(config.ConfigError, match="CJO_RETRY_MAX_ATTEMPTS"):
        RetryPolicy.from_env({"CJO_RETRY_MAX_ATTEMPTS": "0"})
