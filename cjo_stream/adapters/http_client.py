"""Shared HTTP plumbing of the webhook, Slack, CRM, SMS and push channels (one pooled aiohttp session each).

aiohttp rather than httpx: on loopback the adapter made ~10x more requests per second with it, and
httpx's connection pool slows down as concurrency grows (``python -m cjo_stream.bench.adapter``).

The mapping from HTTP answers to outcomes is the same for every provider, so it lives here once:

- 2xx: sent;
- 408, 425, 429 and 5xx, timeouts and connection errors: transient (``Retry-After`` honoured);
- any other 4xx, and 3xx (we never follow redirects with a signed body): permanent.

Reasons carry the status and, at most, a short provider error code (``HTTP 400 code=21211``): never
the response body, which may quote the recipient.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import aiohttp.abc
import orjson
import yarl

from cjo_stream.adapters import config
from cjo_stream.adapters.base import DeliveryResult, PermanentError, TransientError
from cjo_stream.adapters.retry import parse_retry_after

_SAFE_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
TRANSIENT_STATUS = frozenset({408, 425, 429})
MAX_RESPONSE_BYTES = 256 * 1024  # we only need status, headers and a few JSON fields


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return orjson.loads(self.body)


def safe_code(value: object) -> str | None:
    """A provider error code if it looks like one (``21211``, ``UNREGISTERED``), else ``None``."""
    text = str(value) if value is not None else ""
    return text if _SAFE_CODE.match(text) else None


def classify(resp: HttpReply, code: str | None = None, *, bounced: bool = False) -> DeliveryResult | None:
    """``None`` for a 2xx answer, else the failure it stands for."""
    status = resp.status
    if 200 <= status < 300:
        return None
    reason = f"HTTP {status}" + (f" code={code}" if code else "")
    if status in TRANSIENT_STATUS or status >= 500:
        return DeliveryResult.transient(reason, parse_retry_after(resp.headers.get("Retry-After")))
    if 300 <= status < 400:
        return DeliveryResult.permanent(f"{reason}: redirects are not followed; configure the final URL")
    return DeliveryResult.permanent(reason, bounced=bounced)


def json_field(resp: HttpReply, *path: str) -> Any:
    """A field of a JSON response body, or ``None`` if the body is not JSON or lacks it."""
    try:
        value: Any = resp.json()
    except ValueError:
        return None
    for p in path:
        if not isinstance(value, dict):
            return None
        value = value.get(p)
    return value


def timeout_from_env(env: config.Env, name: str, default: float = 10.0) -> float:
    return config.duration(env, name, default, low=config.MIN_TIMEOUT)


class HttpChannel:
    """Base of the HTTP channels: owns the session and turns transport errors into delivery errors."""

    name = "http"

    def __init__(self, timeout: float = 10.0, max_connections: int = 64,
                 resolver: aiohttp.abc.AbstractResolver | None = None) -> None:
        self.timeout = timeout
        self.max_connections = max_connections
        self.resolver = resolver  # None: aiohttp's default (adapters.public_only guards URLs from event data)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit=self.max_connections, resolver=self.resolver),
                headers={"User-Agent": "cjo-stream-adapter"})

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def request(self, method: str, url: str | yarl.URL, *, content: bytes | None = None, json: Any = None,
                      form: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                      auth: tuple[str, str] | None = None) -> HttpReply:
        if self._session is None:  # (a subclass's start() that does not call super().start(): every message
            await HttpChannel.start(self)  # failed with an AssertionError, retried, then dead-lettered)
        assert self._session is not None
        hdrs = dict(headers or {})
        if auth is not None:
            hdrs["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        data: Any = content
        if json is not None:
            data = orjson.dumps(json)
            hdrs.setdefault("Content-Type", "application/json")
        elif form is not None:
            data = form  # aiohttp sends a dict as application/x-www-form-urlencoded
        try:
            async with self._session.request(method, url, data=data, headers=hdrs, allow_redirects=False) as resp:
                body = await resp.content.read(MAX_RESPONSE_BYTES)
                return HttpReply(resp.status, resp.headers, body)
        except TimeoutError:
            raise TransientError(f"timeout after {self.timeout:g}s") from None
        except aiohttp.InvalidURL:
            raise PermanentError("invalid URL: use an absolute http:// or https:// URL") from None
        except (aiohttp.ClientError, OSError) as e:
            raise TransientError(f"connection error ({type(e).__name__})") from None
