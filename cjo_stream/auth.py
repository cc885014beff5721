"""Bearer tokens with scopes for every HTTP surface (worker state API, adapter endpoints, analytics).

Tokens come from ``CJO_API_TOKENS`` or from the file named by ``CJO_API_TOKENS_FILE`` (a mounted
Kubernetes Secret; re-read when it changes, so tokens rotate without a restart). Format: entries
separated by whitespace, newlines or ``;`` (``#`` starts a comment in the file)::

    name:scope[,scope...]:secret        e.g.  ops:read,erase:6f1c0d...   prometheus:metrics:b81c...

Scopes: ``read`` (profiles, journeys), ``erase``, ``metrics``, ``analytics``; ``*`` is all of them.
The secret is at least :data:`MIN_SECRET` printable ASCII characters other than ``;``
(``openssl rand -hex 32``), or
``sha256:<64 hex digits>`` to keep only its SHA-256 digest in the configuration.

Without any token configured nothing is checked, and the worker binds its port to 127.0.0.1 only
(:func:`bind_host`); audit records then name the caller ``anonymous``.

A request is checked by hashing the presented token once and comparing it with every configured
digest using :func:`hmac.compare_digest` (no early exit), so neither the answer nor its timing says
how much of a token was right. ``401`` without or with an unknown token, ``403`` when the token lacks
the scope. Token values are never logged or echoed; only their names are (audit trail).

:func:`middleware` applies a policy (path and method -> required scope, or open) to an aiohttp
application; Faust's web server is aiohttp too, so the worker, the adapters and the analytics service
share it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

log = logging.getLogger(__name__)

SCOPES: Final = frozenset({"read", "erase", "metrics", "analytics"})
MIN_SECRET: Final = 16
#: Policy answers: no token needed, or any valid token (unknown paths: nothing is revealed to strangers).
OPEN: Final = ""
ANY: Final = "*"
TOKEN_KEY: Final = web.RequestKey("cjo.token", str)  # request[TOKEN_KEY]: the authenticated token's name
#: request[SESSION_KEY]: the token an earlier middleware found the request signed in with (a session cookie)
SESSION_KEY: Final = web.RequestKey("cjo.session", object)
ANONYMOUS: Final = "anonymous"  # the caller's name in audit records when no tokens are configured
RELOAD_INTERVAL = 1.0

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_DIGEST = re.compile(r"^sha256:([0-9a-fA-F]{64})$")
_SECRET = re.compile(r"^[\x21-\x3a\x3c-\x7e]+$")  # printable ASCII except ";"
_COMMENT = re.compile(r"(^|\s)#.*$")


class AuthConfigError(ValueError):
    """The token configuration is malformed; the message names the entry, never a secret."""


@dataclass(frozen=True)
class ApiToken:
    name: str
    scopes: frozenset[str]
    digest: bytes = field(repr=False)


def _digest(secret: str | bytes) -> bytes:
    return hashlib.sha256(secret.encode() if isinstance(secret, str) else secret).digest()


def parse_tokens(text: str, source: str = "CJO_API_TOKENS") -> list[ApiToken]:
    """Parse the token list; raises :class:`AuthConfigError` saying which entry is wrong and why."""
    lines = [_COMMENT.sub("", line) for line in text.splitlines()]  # secrets hold no whitespace
    entries = [e for line in lines for e in re.split(r"[\s;]+", line) if e]
    tokens: list[ApiToken] = []
    for i, entry in enumerate(entries, 1):
        if entry.count(":") < 2:  # no secret part: the text there is may be the secret itself, so none is shown
            raise AuthConfigError(f"{source}: entry {i}: expected name:scope[,scope]:secret (two ':')")
        name, _, rest = entry.partition(":")
        scopes_text, _, secret = rest.partition(":")
        where = f"{source}: entry {i} ({name!r})" if _NAME.match(name) else f"{source}: entry {i}"
        if not _NAME.match(name):
            raise AuthConfigError(f"{where}: a name of letters, digits, '_', '.' or '-' comes first "
                                  "(format name:scope,scope:secret)")
        scopes = frozenset(s for s in scopes_text.split(",") if s)
        if "*" in scopes:
            scopes = SCOPES
        unknown = scopes - SCOPES
        if not scopes or unknown:
            raise AuthConfigError(f"{where}: scopes must be some of {', '.join(sorted(SCOPES))} or '*'"
                                  + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else ""))
        m = _DIGEST.match(secret)
        if m:
            digest = bytes.fromhex(m.group(1))
        elif len(secret) < MIN_SECRET or not _SECRET.match(secret):
            raise AuthConfigError(f"{where}: the secret must be at least {MIN_SECRET} printable characters "
                                  "without spaces or ';' (e.g. `openssl rand -hex 32`), or sha256:<64 hex digits>")
        else:
            digest = _digest(secret)
        if any(t.name == name for t in tokens):
            raise AuthConfigError(f"{where}: the name is used twice")
        if any(hmac.compare_digest(t.digest, digest) for t in tokens):
            raise AuthConfigError(f"{where}: the same secret as another entry (names must identify callers)")
        tokens.append(ApiToken(name, scopes, digest))
    return tokens


class ApiAuth:
    """The configured tokens and the ``/metrics`` rule; :meth:`check` decides one request."""

    def __init__(self, tokens: list[ApiToken] | None = None, *, metrics_auth: bool = False,
                 path: str = "") -> None:
        self._tokens = list(tokens or [])
        self.metrics_auth = metrics_auth
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._said: tuple[tuple[int, int] | None, str] | None = None  # the broken version last logged, and why
        if path:
            self._reload(force=True)
        #: Fixed at start: a token file emptied later does not open the API (the old tokens stay).
        self.enabled = bool(self._tokens)
        if metrics_auth and not self._tokens:
            raise AuthConfigError("CJO_METRICS_AUTH=1 needs at least one token with scope `metrics` "
                                  "in CJO_API_TOKENS or CJO_API_TOKENS_FILE")

    @classmethod
    def from_settings(cls, settings: Any) -> ApiAuth:
        """From :class:`~cjo_stream.config.Settings` (``api_tokens``, ``api_tokens_file``, ``metrics_auth``)."""
        if settings.api_tokens and settings.api_tokens_file:
            raise AuthConfigError("set CJO_API_TOKENS or CJO_API_TOKENS_FILE, not both")
        tokens = parse_tokens(settings.api_tokens) if settings.api_tokens else []
        return cls(tokens, metrics_auth=settings.metrics_auth, path=settings.api_tokens_file)

    @property
    def tokens(self) -> list[ApiToken]:
        if self.path and time.monotonic() - self._checked > RELOAD_INTERVAL:
            self._reload()
        return self._tokens

    def _reload(self, force: bool = False) -> None:
        """Re-read the token file when it changed; a broken new version keeps the old tokens.

        That is said once per broken version (it was an error line every second while requests came) and
        held in ``cjo_api_tokens_reload_failed`` for an alert: the old tokens keep working, so nothing else
        shows that a rotation did not take.
        """
        from cjo_stream import metrics

        self._checked = time.monotonic()
        stamp: tuple[int, int] | None = None
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size)
            if not force and (stamp == self._stamp or (self._said is not None and stamp == self._said[0])):
                return  # (unchanged, or the broken version already said)
            with open(self.path, encoding="utf-8") as f:
                tokens = parse_tokens(f.read(), f"CJO_API_TOKENS_FILE={self.path}")
            if not tokens:
                raise AuthConfigError(f"CJO_API_TOKENS_FILE={self.path!r}: the file holds no tokens")
        except (OSError, UnicodeDecodeError, AuthConfigError) as e:
            # a binary file was a UnicodeDecodeError traceback (exit 70); parse_tokens' messages name the
            # file already (they said it twice)
            problem = (f"CJO_API_TOKENS_FILE={self.path!r}: {e.strerror}" if isinstance(e, OSError) else
                       f"CJO_API_TOKENS_FILE={self.path!r}: not UTF-8 text" if isinstance(e, UnicodeDecodeError) else
                       str(e))
            if force:
                raise AuthConfigError(problem) from None
            # the log's redaction masks what follows `..._TOKENS_FILE=` or `:` (a secret's form): the file and
            # the count were '***' in these lines; said as `<path> (CJO_API_TOKENS_FILE)` instead
            for named in (f"CJO_API_TOKENS_FILE={self.path!r}", f"CJO_API_TOKENS_FILE={self.path}"):
                problem = problem.replace(named, f"{self.path} (CJO_API_TOKENS_FILE)")
            metrics.API_TOKENS_RELOAD_FAILED.set(1)
            if self._said != (stamp, problem):
                self._said = (stamp, problem)
                log.error("API tokens not reloaded, keeping the previous ones: %s", problem)
            return
        if self._stamp is not None and not force:
            log.warning("API tokens reloaded from %s (CJO_API_TOKENS_FILE), %d of them (%s)", self.path, len(tokens),
                        ", ".join(t.name for t in tokens))
        self._stamp = stamp
        self._tokens = tokens
        self._said = None
        metrics.API_TOKENS_RELOAD_FAILED.set(0)

    def identify(self, authorization: str | None) -> ApiToken | None:
        """The token an ``Authorization: Bearer <token>`` header carries, or None."""
        if not authorization:
            return None
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value or len(value) > 4096:
            return None
        presented = _digest(value.encode("utf-8", "replace"))
        found: ApiToken | None = None
        for t in self.tokens:  # compare with every token: the time taken does not depend on the match
            if hmac.compare_digest(t.digest, presented):
                found = t
        return found

    def check(self, authorization: str | None, scope: str) -> tuple[int, ApiToken | None]:
        """``(0, token)`` when allowed, ``(401, None)`` unauthenticated, ``(403, token)`` lacking ``scope``."""
        return self.allows(self.identify(authorization), scope)

    def allows(self, token: ApiToken | None, scope: str) -> tuple[int, ApiToken | None]:
        """:meth:`check` of a token already identified (None: none was)."""
        if token is None:
            return 401, None
        if scope != ANY and scope not in token.scopes:
            return 403, token
        return 0, token


Policy = Callable[[str, str], str]


def worker_policy(auth: ApiAuth) -> Policy:
    """The worker's web port: ``/health`` open, ``/metrics`` open unless ``CJO_METRICS_AUTH``, customers
    ``read``/``erase``, ``/journeys`` ``read``, anything else (Faust's own pages, unknown paths) any token."""
    metrics_scope = "metrics" if auth.metrics_auth else OPEN

    def policy(method: str, path: str) -> str:
        if path == "/health":
            return OPEN
        if path == "/metrics":
            return metrics_scope
        if path.startswith("/customers/"):
            return "erase" if method == "DELETE" else "read" if method in ("GET", "HEAD") else ANY
        if path.rstrip("/") == "/journeys":
            return "read"
        return ANY

    return policy


def adapter_policy(auth: ApiAuth) -> Policy:
    """An adapter's port: ``/health`` open, ``/engagement`` checked by its HMAC signature, ``/metrics`` as
    on workers, anything else any token."""
    metrics_scope = "metrics" if auth.metrics_auth else OPEN

    def policy(method: str, path: str) -> str:
        if path in ("/health", "/engagement", "/engagement/lookup"):  # (the lookup: signed, or private peers)
            return OPEN
        if path == "/metrics":
            return metrics_scope
        return ANY

    return policy


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def middleware(auth: ApiAuth, policy: Policy) -> Any:
    """aiohttp middleware enforcing ``policy``; the token's name is left in ``request[TOKEN_KEY]``."""
    from cjo_stream import metrics

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        scope = policy(request.method, request.path)
        if scope == OPEN:
            return await handler(request)
        if not auth.enabled:  # no tokens configured: the port is bound to loopback only (bind_host)
            request[TOKEN_KEY] = ANONYMOUS
            return await handler(request)
        session = request.get(SESSION_KEY)
        status, token = (auth.allows(session, scope) if isinstance(session, ApiToken) else
                         auth.check(request.headers.get("Authorization"), scope))
        if status == 401:
            metrics.API_AUTH_FAILURES.labels("unauthenticated").inc()
            return web.json_response({"error": "a valid bearer token is required (Authorization: Bearer <token>)"},
                                     status=401, headers={"WWW-Authenticate": 'Bearer realm="cjo-stream"'})
        if status == 403:
            metrics.API_AUTH_FAILURES.labels("forbidden").inc()
            return web.json_response({"error": f"this token lacks the scope {scope!r}"}, status=403,
                                     headers={"WWW-Authenticate": f'Bearer realm="cjo-stream", scope="{scope}"'})
        assert token is not None
        request[TOKEN_KEY] = token.name
        return await handler(request)

    return authenticate


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_host(host: str, auth: ApiAuth) -> tuple[str, str | None]:
    """The address the worker's API may bind: without tokens only loopback, with a message saying so."""
    if auth.enabled or is_loopback(host):
        return host, None
    return "127.0.0.1", (f"no API tokens configured (CJO_API_TOKENS / CJO_API_TOKENS_FILE): the state API "
                         f"binds to 127.0.0.1 only, not CJO_WEB_HOST={host}; configure tokens to serve it "
                         "on the network")


def forward_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers a worker passes on when it forwards a state query: the caller's own credentials."""
    auth = headers.get("Authorization")
    return {"Authorization": auth} if auth else {}


__all__ = ["ANY", "OPEN", "SCOPES", "TOKEN_KEY", "ApiAuth", "ApiToken", "AuthConfigError", "adapter_policy",
           "bind_host", "forward_headers", "is_loopback", "middleware", "parse_tokens", "worker_policy"]
