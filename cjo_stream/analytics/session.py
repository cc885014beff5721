"""The analytics page's sign-in session: what its cookie holds instead of the bearer secret.

The cookie used to be the token itself, so anything that could read it (a browser profile, a proxy's
log) held an API secret valid until it was revoked. Now it names the token, an expiry, and a MAC over both
and the token's stored digest, keyed by a secret this process draws at start: it opens nothing elsewhere,
ends after its expiry or when the token is revoked or rotated, and all sessions end when the service
restarts (the page asks to sign in again). Nothing is stored per session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from cjo_stream.auth import ApiToken

__all__ = ["Sessions"]

#: How long a sign-in lasts.
SESSION_SECONDS = 12 * 3600


class Sessions:
    def __init__(self, key: bytes | None = None, lifetime: float = SESSION_SECONDS) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self.lifetime = lifetime

    def _mac(self, name: str, expiry: int, digest: bytes) -> str:
        msg = f"{name}.{expiry}".encode() + b"." + digest
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def issue(self, token: ApiToken, now: float | None = None) -> str:
        """The cookie value of a sign-in with ``token``."""
        expiry = int((time.time() if now is None else now) + self.lifetime)
        return f"{token.name}.{expiry}.{self._mac(token.name, expiry, token.digest)}"

    def token_of(self, cookie: str, tokens: list[ApiToken], now: float | None = None) -> ApiToken | None:
        """The token a cookie stands for, if it is one of ours, unexpired, and its token is still configured."""
        head, _, mac = cookie.rpartition(".")
        name, _, expiry_text = head.rpartition(".")
        if not name or not expiry_text.isdigit() or len(expiry_text) > 12:
            return None
        expiry = int(expiry_text)
        if expiry < (time.time() if now is None else now):
            return None
        for t in tokens:
            if t.name == name and hmac.compare_digest(self._mac(name, expiry, t.digest), mac):
                return t
        return None
