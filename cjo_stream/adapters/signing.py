"""HMAC-SHA256 request signatures (outgoing webhooks and the incoming engagement endpoint).

The signed string is ``"<timestamp>.<raw body>"``: including the timestamp lets the receiver refuse
replays of an old, validly signed request (check it is within a few minutes), and signing the raw
bytes avoids any JSON canonicalisation question. Headers: ``X-CJO-Timestamp: <unix seconds>`` and
``X-CJO-Signature: sha256=<hex>``. See ``docs/adapters.md`` for a verification snippet.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-CJO-Signature"
TIMESTAMP_HEADER = "X-CJO-Timestamp"
DEFAULT_TOLERANCE = 300.0


def signature(key: bytes, timestamp: str, body: bytes) -> str:
    mac = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def sign(key: bytes, body: bytes, now: float | None = None) -> dict[str, str]:
    """The two headers to add to a request carrying ``body``."""
    ts = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: signature(key, ts, body)}


def verify(key: bytes, body: bytes, timestamp: str | None, sig: str | None, *,
           now: float | None = None, tolerance: float = DEFAULT_TOLERANCE) -> str | None:
    """``None`` if the signature is valid and fresh, else the reason to refuse the request."""
    if not timestamp or not sig:
        return f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header"
    try:
        ts = int(timestamp)
    except ValueError:
        return f"{TIMESTAMP_HEADER} is not a unix timestamp"
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        return f"{TIMESTAMP_HEADER} is more than {tolerance:g}s away from our clock (replay or clock skew)"
    if not hmac.compare_digest(signature(key, timestamp, body), sig.strip()):
        return "signature does not match (wrong signing key, or the body was changed)"
    return None
