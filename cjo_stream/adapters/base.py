"""The adapter interface: what a channel implements and what it reports back.

A channel only talks to its provider. Everything around it — idempotency, expiry, rate limiting,
retries, receipts and the dead-letter topic — lives in :mod:`cjo_stream.adapters.runner`, so every
channel gets the same delivery guarantees and a new channel is one small module.

A channel either returns a :class:`DeliveryResult` or raises :class:`TransientError` /
:class:`PermanentError` (handy deep inside HTTP or SMTP code); the runner treats both the same.
Any other exception counts as transient (a bug or an unexpected provider answer must not lose a
message: it is retried, then dead-lettered). What ``deliver`` returns is checked (:func:`checked`): a channel
of a user's own that returns ``None`` or a message id instead of a result made the runner raise, and the
adapter exited, was restarted, called the provider again and exited again, for ever.
"""

from __future__ import annotations

import logging
import os
import traceback
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import quote

from cjo_stream.commands import DeliveryCommand

Outcome = Literal["sent", "permanent", "transient"]
FailureStatus = Literal["failed", "bounced"]
_OUTCOMES = frozenset({"sent", "permanent", "transient"})
MAX_PROVIDER_ID = 200  # characters of a provider's message id kept in receipts and the sent-record

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """One attempt's outcome. ``reason`` is short and safe to log: never an address or a payload."""

    outcome: Outcome
    provider_message_id: str | None = None
    reason: str | None = None
    retry_after: float | None = None  # seconds the provider asked us to wait (HTTP Retry-After)
    status: FailureStatus = "failed"  # receipt status of a permanent failure (a hard bounce is "bounced")
    # the receiver's answer (adapters.response) when the call itself confirms delivery (a webhook's 2xx):
    # the runner then reports ``delivered`` with it, after ``sent``
    response: dict[str, Any] | None = None
    # the provider's ids of the same message to the command's other recipients (a push's other devices that took
    # it): recorded beside ``provider_message_id``, so a callback naming any of them finds the send
    other_ids: tuple[str, ...] = ()
    # the command's push tokens the provider called unregistered (the app was uninstalled), as their digests
    # (commands.device_digest: receipts carry no address); the receipt names them, and the profile drops them
    unregistered: tuple[str, ...] = ()

    @classmethod
    def sent(cls, provider_message_id: str | None = None, response: dict[str, Any] | None = None) -> DeliveryResult:
        return cls("sent", provider_message_id=provider_message_id, response=response)

    @classmethod
    def permanent(cls, reason: str, *, bounced: bool = False) -> DeliveryResult:
        return cls("permanent", reason=reason, status="bounced" if bounced else "failed")

    @classmethod
    def transient(cls, reason: str, retry_after: float | None = None) -> DeliveryResult:
        return cls("transient", reason=reason, retry_after=retry_after)


class DeliveryError(Exception):
    """Base of the errors a channel may raise instead of returning a result."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def result(self) -> DeliveryResult:
        raise NotImplementedError


class TransientError(DeliveryError):
    """Worth retrying: timeouts, connection errors, 5xx, 429, SMTP 4xx."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after

    def result(self) -> DeliveryResult:
        return DeliveryResult.transient(self.reason, self.retry_after)


class PermanentError(DeliveryError):
    """Retrying cannot help: invalid address, 4xx other than 408/429, message refused."""

    def __init__(self, reason: str, *, bounced: bool = False) -> None:
        super().__init__(reason)
        self.bounced = bounced

    def result(self) -> DeliveryResult:
        return DeliveryResult.permanent(self.reason, bounced=self.bounced)


class ChannelStartError(Exception):
    """A channel's ``start()`` failed: said in one line by ``cjo-stream adapter`` (exit 2 for a ``ConfigError``,
    else 1), not as a cjo-stream bug's traceback and exit 70 — a class of a user's own opens its connections
    there, and a provider unreachable at start is theirs to fix (or their supervisor's to retry)."""

    def __init__(self, message: str, *, config: bool) -> None:
        super().__init__(message)
        self.config = config


def said(e: BaseException) -> str:
    """An exception as one short line: its type and the first line of its text."""
    text = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class Channel(Protocol):
    """A provider client. ``start``/``close`` open and release connections; ``deliver`` makes one attempt."""

    name: str

    async def start(self) -> None: ...

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult: ...

    async def close(self) -> None: ...


class BaseChannel:
    """A base for a channel of your own (docs/adapters.md, "Your own channel"): write ``deliver``; ``start`` and
    ``close`` do nothing unless overridden. ``__init__`` is called without arguments before anything connects:
    read settings there and raise on a mistake; open connections in ``start``."""

    name = ""  # the runner names the channel after ``--channel``

    async def start(self) -> None:
        return None

    async def deliver(self, cmd: DeliveryCommand) -> DeliveryResult:
        raise NotImplementedError

    async def close(self) -> None:
        return None


async def attempt(channel: Channel, cmd: DeliveryCommand) -> DeliveryResult:
    """One delivery attempt with every exception folded into a result (see the module docstring)."""
    try:
        result: object = await channel.deliver(cmd)
    except DeliveryError as e:
        return checked(e.result())
    except Exception as e:  # an unknown failure is retried, never lost
        # only the type and where it was raised: an exception's text may quote an address or a provider response
        if log.isEnabledFor(logging.DEBUG):  # (--debug) the frames alone, without the values or the text
            frames = "".join(traceback.format_list(traceback.extract_tb(e.__traceback__)))
            log.debug("delivery %s: %s raised by the channel's deliver\n%s", cmd.delivery_id, type(e).__name__,
                      frames.rstrip())
        return DeliveryResult.transient(f"unexpected {type(e).__name__}{raised_at(e)}")
    return checked(result)


def raised_at(e: BaseException) -> str:
    """`` at file.py:line`` of the frame that raised ``e``: a channel's author learns where a ``KeyError``
    came from without a traceback, which the runner cannot log (its values may be a customer's)."""
    tb = traceback.extract_tb(e.__traceback__)
    return f" at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno}" if tb else ""


def provider_id(value: object) -> str | None:
    """A provider's message id as receipts carry it: text, or a whole number as text (a CRM's record id
    ``12345`` made a receipt the workers refused as ``bad_receipt``); anything else, or over
    ``MAX_PROVIDER_ID`` characters, none."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and 0 < len(value) <= MAX_PROVIDER_ID else None


def checked(result: object) -> DeliveryResult:
    """``result`` as the runner can report it. Not a :class:`DeliveryResult` (``None``: a ``deliver`` without
    ``return``; a message id) is a permanent failure, not a retry: the call ended normally, so the provider
    may have the message, and a retry would send it again. Fields of the wrong type are mended or dropped, as
    a receipt carrying them was refused by the workers (``bad_receipt``): the journey never saw it."""
    if not isinstance(result, DeliveryResult) or result.outcome not in _OUTCOMES:
        what = f"a DeliveryResult with outcome {str(result.outcome)[:40]!r}" if isinstance(result, DeliveryResult) \
            else type(result).__name__ if result is not None else "None"
        return DeliveryResult.permanent(f"deliver() returned {what}, not DeliveryResult.sent/transient/permanent")
    fixes: dict[str, Any] = {}
    if result.provider_message_id is not None and provider_id(result.provider_message_id) != result.provider_message_id:
        fixes["provider_message_id"] = provider_id(result.provider_message_id)
    if result.reason is not None and not isinstance(result.reason, str):
        fixes["reason"] = str(result.reason) if isinstance(result.reason, int | float) else type(result.reason).__name__
    if result.retry_after is not None and (not isinstance(result.retry_after, int | float)
                                           or isinstance(result.retry_after, bool) or not result.retry_after >= 0):
        fixes["retry_after"] = None
    if result.status not in ("failed", "bounced"):
        fixes["status"] = "failed"
    if result.response is not None and not isinstance(result.response, dict):
        fixes["response"] = None
    return replace(result, **fixes) if fixes else result


def utc_now_iso(now: float | None = None) -> str:
    """RFC 3339 with milliseconds and ``Z``, the format of every time in commands and receipts."""
    dt = datetime.now(UTC) if now is None else datetime.fromtimestamp(now, UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def url_part(value: str) -> str:
    """``value`` escaped to stay one URL path segment or query value: ``/``, ``?``, ``#`` and dots too (an id
    ``..`` became the parent path when the URL was normalised: a CRM ``PUT /api/leads/..`` went to ``/api/``)."""
    return quote(value, safe="").replace(".", "%2E")


def content_text(cmd: DeliveryCommand, *keys: str) -> str:
    """The first non-empty content field among ``keys`` (e.g. ``"text", "body", "subject"``)."""
    for k in keys:
        v = cmd.content.get(k)
        if v:
            return v
    return ""
