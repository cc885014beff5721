"""Reading adapter configuration from the environment: plain values, secrets, durations and rates.

Secrets (SMTP password, API tokens, signing keys) are read from ``NAME`` or from the file named by
``NAME_FILE`` (Docker/Kubernetes secrets), never from journey files. Error messages name the variable
but never echo a secret's value.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping

from cjo_stream.config import switch

Env = Mapping[str, str]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?)?\s*(s|sec|m|min|h|hour))?\s*$")
_PER = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message says which variable and how to fix it."""


def env_of(env: Env | None) -> Env:
    return os.environ if env is None else env


def get(env: Env, name: str, default: str = "") -> str:
    return env.get(name, default).strip() or default


def require(env: Env, name: str, what: str) -> str:
    value = get(env, name)
    if not value:
        raise ConfigError(f"{name} is not set: {what}")
    return value


def secret(env: Env, name: str, *, required: bool = False, what: str = "") -> str:
    """``NAME`` or the contents of the file ``NAME_FILE`` (trailing newline stripped)."""
    path = get(env, f"{name}_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                value = f.read().strip()
        except OSError as e:
            raise ConfigError(f"{name}_FILE={path!r} cannot be read ({e.strerror}); fix the path or set {name}") \
                from None
        if not value:
            raise ConfigError(f"{name}_FILE={path!r} is empty")
        return value
    value = env.get(name, "").strip()
    if required and not value:
        raise ConfigError(f"{name} (or {name}_FILE) is not set: {what}")
    return value


#: The shortest HMAC signing key taken (as the API tokens' secrets, cjo_stream.auth.MIN_SECRET): a short
#: one can be guessed offline from any one signed request.
MIN_SIGNING_KEY = 16


def signing_key(env: Env, name: str) -> bytes:
    """An HMAC key from :func:`secret` (empty: unset), at least :data:`MIN_SIGNING_KEY` characters."""
    value = secret(env, name)
    if value and len(value) < MIN_SIGNING_KEY:
        raise ConfigError(f"{name} is {len(value)} characters: use at least {MIN_SIGNING_KEY} "
                          "(e.g. `openssl rand -hex 32`)")
    return value.encode()


def http_url(value: str, name: str, *, is_secret: bool = False) -> str:
    """``value`` if it is an http(s) URL with a host, else a ConfigError at start: a typo in a provider URL
    (``CJO_WEBHOOK_URL=hooks.example.com``) was taken, and every command then failed at delivery, after its
    retries. A secret's value is not echoed."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        shown = "" if is_secret else f"={value!r}"
        raise ConfigError(f"{name}{shown} is not an http(s) URL: use e.g. https://hooks.example.com/path")
    return value


#: The longest duration a setting takes, as in journeys (36500d): beyond it a session timeout of
#: 99999999999w ended the adapter with aiokafka's traceback (exit 70) and deadlines left the years a
#: time can be written in.
MAX_DURATION = 36500 * 86400.0


def parse_duration(text: str, name: str = "duration", low: float = 0.0, high: float = MAX_DURATION) -> float:
    """``90``, ``1.5s``, ``250ms``, ``15m``, ``24h``, ``7d``, ``2w`` → seconds, within ``low``..``high``."""
    m = _DURATION.match(text)
    if not m:
        raise ConfigError(f"{name}={text!r} is not a duration: use e.g. 30s, 15m, 24h or 7d")
    seconds = float(m.group(1)) * _UNIT[m.group(2)]
    if not low <= seconds <= high:
        raise ConfigError(f"{name}={text!r}: {_span(low, high)}")
    return seconds


def _span(low: float, high: float) -> str:
    def words(x: float) -> str:
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if x >= size:
                return f"{x / size:g}{unit}"
        return f"{x:g}s"

    if low <= 0:
        return f"at most {words(high)}"
    return f"from {words(low)} to {words(high)}"


def duration(env: Env, name: str, default: float, low: float = 0.0, high: float = MAX_DURATION) -> float:
    raw = get(env, name)
    return parse_duration(raw, name, low, high) if raw else default


#: A timeout of 0 (or 0ms) failed every delivery at once as if the provider were down.
MIN_TIMEOUT = 0.001


def integer(env: Env, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    raw = get(env, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    if maximum is not None and value > maximum:  # CJO_ADAPTER_WEB_PORT=70000 was a traceback (exit 70)
        raise ConfigError(f"{name}={value} must be at most {maximum}")
    return value


def boolean(env: Env, name: str, default: bool) -> bool:
    raw = get(env, name).lower()
    if not raw:
        return default
    try:
        return switch(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: use true or false") from None


def parse_rate(text: str, name: str = "rate") -> float | None:
    """``50/s``, ``3000/m``, ``10/h``, ``5/10s``, a bare ``50`` (per second) → per second; ``0``/``off`` = none."""
    if text.strip().lower() in ("", "0", "off", "none", "unlimited"):
        return None
    m = _RATE.match(text.lower())
    if not m:
        raise ConfigError(f"{name}={text!r} is not a rate: use e.g. 50/s, 3000/m or off")
    count = float(m.group(1))
    per = float(m.group(2) or 1) * _PER[m.group(3) or "s"]
    if count <= 0:
        return None
    if per <= 0:  # 5/0s ended the adapter with ZeroDivisionError (exit 70)
        raise ConfigError(f"{name}={text!r}: the period must be longer than 0, e.g. 5/10s")
    rate = count / per
    if not math.isfinite(rate):
        raise ConfigError(f"{name}={text!r} is not a rate: use e.g. 50/s, 3000/m or off")
    return rate
