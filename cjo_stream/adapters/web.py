"""The adapter's HTTP endpoint: provider engagement callbacks → receipts, plus ``/metrics`` and ``/health``.

``POST /engagement`` takes one JSON object or an array of them (providers batch their callbacks)::

    {"delivery_id": "6f1c…", "customer_id": "u42", "channel": "email", "event": "opened",
     "at": "2026-03-02T11:05:00Z", "provider_message_id": "…", "url": "https://…", "reason": "…"}

``event`` is one of ``delivered``, ``opened``, ``clicked``, ``bounced``, ``unsubscribed``,
``complained``, ``failed``; ``channel`` defaults to ``email`` (on a channel of your own's adapter: that
channel), ``at`` to now; ``journey``, ``step``, ``provider_message_id``, ``reason``, ``url`` and
``attributes`` (an object) are optional. Instead of ``delivery_id`` and ``customer_id`` a callback may give the
provider's ``provider_message_id`` alone: the send is found in the sent-record
(:mod:`cjo_stream.adapters.callback_ids`), which also fills in ``journey`` and ``step``. Each becomes a
:class:`~cjo_stream.commands.Receipt` on ``cjo.receipts`` (keyed by customer id), which the engine turns
into a ``message_<event>`` event. The answer is ``202 {"accepted": n}`` once the broker has them.

When ``CJO_ENGAGEMENT_SIGNING_KEY`` (or ``_FILE``) is set, requests must be signed like our outgoing
webhooks (``X-CJO-Timestamp``, ``X-CJO-Signature``; :mod:`cjo_stream.adapters.signing`); a provider that
cannot sign should reach this endpoint through a small translating proxy. Without a key unsigned
callbacks are accepted from loopback peers only (such a proxy, or a test); anyone else gets ``403``.

``POST /engagement/lookup`` is the other replicas' question for sends on the partitions this one holds
(:mod:`cjo_stream.adapters.peers`): signed with the same key, or without one answered to private addresses
reached directly; it reads only.

Every other path goes through the bearer-token check of :mod:`cjo_stream.auth` (``/health`` open,
``/metrics`` open unless ``CJO_METRICS_AUTH=1``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable
from typing import Any, Literal, get_args

import msgspec
from aiohttp import web
from aiokafka import AIOKafkaProducer
from prometheus_client import CONTENT_TYPE_LATEST

from cjo_stream import auth, metrics
from cjo_stream.adapters.base import utc_now_iso
from cjo_stream.adapters.callback_ids import (
    Elsewhere,
    SentLookup,
    Unresolved,
    ask_elsewhere,
    complete,
    resolve,
    topic_unknown,
    unknown,
)
from cjo_stream.adapters.peers import LOOKUP_PATH, Hit, LookupAnswer, LookupKey, LookupRequest, PeerLookup
from cjo_stream.adapters.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from cjo_stream.commands import ChannelName, Receipt
from cjo_stream.events import InvalidEvent, parse_ts
from cjo_stream.receipts import receipt_record_event

log = logging.getLogger(__name__)

EngagementEvent = Literal["delivered", "opened", "clicked", "bounced", "unsubscribed", "complained", "failed"]
MAX_BODY = 1024 * 1024
MAX_EVENTS = 1000


class Engagement(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    delivery_id: str | None = None  # or provider_message_id alone: callback_ids.resolve finds both
    customer_id: str | None = None
    event: EngagementEvent
    channel: ChannelName | None = None  # default: build_app's (email; a channel of your own's adapter: its own)
    at: str | None = None
    journey: str | None = None
    step: str | None = None
    provider_message_id: str | None = None
    reason: str | None = None
    url: str | None = None
    attributes: dict[str, Any] = {}
    # the subscription topic of the message (the unsubscribe link's {topic}): an unsubscribe withdraws it alone
    topic: str | None = None


_decode = msgspec.json.Decoder(Engagement | list[Engagement]).decode
_encode = msgspec.json.Encoder().encode
_decode_lookup = msgspec.json.Decoder(LookupRequest).decode


def _peer(request: web.Request) -> bool:
    """Whether an unsigned lookup may come from another replica: a private address (pods, loopback), reached
    directly. Through an ingress or a proxy (which names the client it passes on: ``Forwarded``,
    ``X-Forwarded-For``) the private address is the proxy's, not a replica's."""
    if any(h in request.headers for h in ("Forwarded", "X-Forwarded-For", "X-Real-IP")):
        return False
    host = request.remote or ""
    try:
        return ipaddress.ip_address(host).is_private
    except ValueError:
        return host == "localhost"


def to_receipt(e: Engagement, default_channel: str = "email") -> Receipt:
    """The receipt of a resolved callback (``delivery_id`` and ``customer_id`` set: :func:`resolve`)."""
    assert e.delivery_id is not None and e.customer_id is not None
    at = e.at or utc_now_iso()
    parse_ts(at)  # ValueError if unreadable
    attrs = dict(e.attributes)
    if e.url:
        attrs["url"] = e.url
    return Receipt(delivery_id=e.delivery_id, customer_id=e.customer_id, channel=e.channel or default_channel,
                   status=e.event, at=at,
                   journey=e.journey, step=e.step, provider_message_id=e.provider_message_id, reason=e.reason,
                   attributes=attrs, topic=e.topic or None)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _payload_problem(err: msgspec.ValidationError) -> str:
    """msgspec's reason, with the events there are when ``event`` is none of them (a provider's own word,
    WhatsApp's ``read``, was told as ``Invalid enum value 'read'`` and no more)."""
    text = str(err)
    if text.startswith("Invalid enum value") and text.endswith(".event`"):
        text += f": use one of {', '.join(get_args(EngagementEvent))} (a translating proxy maps its provider's " \
                "statuses to these: a read receipt is opened)"
    return text


def unknown_channel(e: Engagement, channels: frozenset[str] | None) -> str | None:
    """Why a callback's ``channel`` is none this adapter knows, or None. A name of no channel (``whatsapp`` for
    ``myco_whatsapp``) was accepted: its ``unsubscribed`` withdrew consent for a channel nothing sends on, and
    the customer kept getting messages on the real one."""
    if e.channel is None or channels is None or e.channel in channels:
        return None
    from cjo_stream.journeys.policies import closest_channel

    return (f"unknown channel {e.channel!r}{closest_channel(e.channel, channels)}: this adapter takes callbacks "
            f"about {', '.join(sorted(channels))} (channels of your own: those declared in the policies.yaml of "
            "CJO_TOPOLOGIES, and its own)")


def build_app(producer: AIOKafkaProducer, receipts_topic: str, signing_key: bytes = b"",
              health: Callable[[], dict[str, Any]] | None = None,
              api_auth: auth.ApiAuth | None = None, default_channel: str = "email",
              channels: frozenset[str] | None = None, sent: SentLookup | None = None,
              peers: PeerLookup | None = None) -> web.Application:
    """``default_channel``: of a callback that names none. A channel of your own's adapter passes its own: an
    ``unsubscribed`` from its provider withdrew the customer's e-mail consent instead. ``channels``: those a
    callback may name (None: any). ``sent``: the adapter's sent-record, where a callback's send is looked up;
    ``peers``: the other replicas, asked for a send on partitions this one does not hold (and answered on
    ``POST /engagement/lookup``: :mod:`cjo_stream.adapters.peers`)."""
    async def signed(request: web.Request, unsigned_ok: bool, refusal: str) -> bytes | web.Response:
        """The body, or the answer refusing it: a wrong signature with a key, a caller not allowed without one."""
        if not signing_key and not unsigned_ok:
            return _error(403, f"{refusal}; set CJO_ENGAGEMENT_SIGNING_KEY and sign them")
        body = await request.read()
        if signing_key:
            problem = verify(signing_key, body, request.headers.get(TIMESTAMP_HEADER),
                             request.headers.get(SIGNATURE_HEADER))
            if problem:
                return _error(401, problem)
        return body

    async def engagement(request: web.Request) -> web.Response:
        body = await signed(request, auth.is_loopback(request.remote or ""),
                            "unsigned engagement callbacks are accepted from loopback only")
        if isinstance(body, web.Response):
            return body
        try:
            decoded = _decode(body)
            events = decoded if isinstance(decoded, list) else [decoded]
            if len(events) > MAX_EVENTS:
                return _error(413, f"at most {MAX_EVENTS} events per request")
            for e in events:
                if (problem := unknown_channel(e, channels)) is not None:
                    return _error(400, f"invalid engagement payload: {problem}")
            resolved: list[Engagement | None] = []
            elsewhere: list[int] = []  # events whose send another replica may hold
            optional: list[int] = []  # events taken as given that the replica holding their send would complete
            i = 0
            try:
                for i, e in enumerate(events):
                    try:
                        one = resolve(e, sent)
                        if peers is not None and peers.ready and ask_elsewhere(e, one, sent):
                            optional.append(i)
                        resolved.append(one)
                    except Elsewhere:
                        if peers is None or peers.assignor.plain:  # (no peer table: the answer as before)
                            raise
                        if not peers.ready:  # between two assignments
                            raise Unresolved(503, "the adapter's group is rebalancing: retry in a few s") from None
                        resolved.append(None)
                        elsewhere.append(i)
                if elsewhere or optional:
                    assert peers is not None
                    i = -1  # (a 503 of the lookup is about no event in particular)
                    asked = sorted(elsewhere + optional)
                    # an unsubscribe without its topic waits for the holder's answer (as given, the whole channel)
                    needed = bool(elsewhere) or any(topic_unknown(events[j]) for j in optional)
                    try:
                        found = await peers.find([LookupKey(events[j].delivery_id, events[j].provider_message_id)
                                                  for j in asked], optional=not needed)
                    except Unresolved:
                        if needed:
                            raise
                        found = [None] * len(asked)  # (our ids: taken as given, as before)
                    for i, hit in zip(asked, found, strict=True):
                        if hit is not None:
                            resolved[i] = complete(events[i], *hit)  # then written as one found here
                        elif i in elsewhere:  # every replica holding the rest said so: final
                            raise Unresolved(404, unknown(events[i]))
            except Unresolved as err:  # all or nothing, as for any other mistake: the index says which
                which = f"event {i + 1} of {len(events)}: " if isinstance(decoded, list) and i >= 0 else ""
                return _error(err.status, ("invalid engagement payload: " if err.status == 400 else "")
                              + which + err.message)
            receipts = [to_receipt(e, default_channel) for e in resolved if e is not None]
            values = [_encode(r) for r in receipts]
            for v in values:  # what the workers would dead-letter is refused here, where the sender can retry
                receipt_record_event(v)
        except msgspec.ValidationError as err:
            return _error(400, f"invalid engagement payload: {_payload_problem(err)}")
        except msgspec.DecodeError as err:
            return _error(400, f"invalid engagement payload: {err}")
        except InvalidEvent as err:
            return _error(400, f"invalid engagement payload: {err.detail}")
        except ValueError:
            return _error(400, "invalid engagement payload: `at` is not an RFC 3339 time")
        try:
            futures = [await producer.send(receipts_topic, v, key=r.customer_id.encode())
                       for r, v in zip(receipts, values, strict=True)]
            await asyncio.gather(*futures)
        except Exception as err:
            log.error("could not write engagement receipts: %s", type(err).__name__)
            return _error(503, "receipts could not be written to Kafka; retry later")
        for r in receipts:
            metrics.DELIVERY_OUTCOMES.labels(r.channel, r.status).inc()
        return web.json_response({"accepted": len(receipts)}, status=202)

    async def lookup(request: web.Request) -> web.Response:
        """Another replica's question: these ids' sends, among the partitions this one holds. Answered here only,
        never passed on (a replica asks the holders it knows once: no loops, no second hop)."""
        body = await signed(request, _peer(request), "unsigned sent-record lookups are answered to other replicas only "
                                                     "(a private address, no proxy in between)")
        if isinstance(body, web.Response):
            return body
        if sent is None or peers is None:
            return _error(404, "this adapter keeps no sent-record")
        if sent.busy:
            return _error(503, "reading the sent-record (its partitions changed): retry")
        try:
            ask = _decode_lookup(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            return _error(400, f"invalid lookup: {err}")
        if len(ask.ids) > MAX_EVENTS:
            return _error(413, f"at most {MAX_EVENTS} ids per lookup")
        held = set(peers.held())
        found = [sent.lookup(k.delivery_id, None if k.delivery_id else k.provider_message_id) for k in ask.ids]
        answer = LookupAnswer(sorted(held & set(ask.partitions)),
                              [Hit(*f) if f is not None else None for f in found])
        return web.Response(body=_encode(answer), content_type="application/json")

    async def metrics_view(request: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition("adapter"), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health_view(request: web.Request) -> web.Response:
        info = health() if health else {"status": "ok"}
        # "degraded": a partition is stopped at an unreadable record batch; the rest is served
        return web.json_response(info, status=200 if info.get("status") in ("ok", "degraded") else 503)

    api_auth = api_auth or auth.ApiAuth()
    app = web.Application(client_max_size=MAX_BODY,
                          middlewares=[auth.middleware(api_auth, auth.adapter_policy(api_auth))])
    app.router.add_post("/engagement", engagement)
    app.router.add_post(LOOKUP_PATH, lookup)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/health", health_view)
    return app
