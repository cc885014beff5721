"""Adapter receipts as touchpoint events: ``message_<status>`` for the customer the delivery was for.

Shared by the worker's ingest stage and replay, so a journey waiting for ``message_opened`` sees the
same event live and in a backtest.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import msgspec

from cjo_stream.commands import Receipt
from cjo_stream.events import MAX_ID_LENGTH, Envelope, Event, InvalidEvent, decode_event, parse_ts, valid_id

_receipt_dec = msgspec.json.Decoder(Receipt)
_json = msgspec.json.Encoder()


def receipt_message_id(r: Receipt) -> str:
    """The event's ``messageId``, which the workers' duplicate check keys on: one event per delivery and
    status (an adapter or a provider repeating a receipt is one event), except clicks, one per link: a click
    on a second link was dropped as a duplicate of the first, and a journey waiting for it never saw it (a
    walkthrough). The same link clicked twice is one click, as a provider retrying its callback would make."""
    mid = f"receipt:{r.delivery_id}:{r.status}"
    url = r.attributes.get("url") if r.status == "clicked" and r.attributes else None
    if isinstance(url, str) and url:
        mid += ":" + hashlib.blake2b(url.encode(), digest_size=6).hexdigest()
    return mid


def receipt_event(r: Receipt) -> bytes:
    """A receipt as the touchpoint event journeys can wait for: ``message_<status>`` for the customer."""
    props: dict[str, Any] = {"delivery_id": r.delivery_id, "channel": r.channel, "status": r.status}
    for k in ("journey", "step", "provider_message_id", "reason", "topic"):
        v = getattr(r, k)
        if v is not None:
            props[k] = v
    if r.attributes:
        props["attributes"] = r.attributes
    if r.response is not None:
        props["response"] = r.response
    env = Envelope(messageId=receipt_message_id(r), type="track", event=f"message_{r.status}",
                   userId=r.customer_id, timestamp=datetime.fromtimestamp(parse_ts(r.at), UTC), properties=props,
                   context={"channel": "receipt"})
    return _json.encode(env)


def receipt_record_event(value: bytes) -> bytes:
    """The event JSON for a record of the receipts topic, or :class:`InvalidEvent` (``bad_receipt``)."""
    try:
        r = _receipt_dec.decode(value)
        ev = receipt_event(r)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as e:
        raise InvalidEvent("bad_receipt", str(e)) from None
    # checked here, in the receipt's own terms: the event's rules would name userId and messageId, which
    # whoever wrote the receipt never sent
    if not valid_id(r.customer_id):
        raise InvalidEvent("bad_receipt", f"customer_id is 1 to {MAX_ID_LENGTH} printable characters")
    mid = receipt_message_id(r)
    if not r.delivery_id or not valid_id(mid):
        longest = MAX_ID_LENGTH - (len(mid) - len(r.delivery_id))
        raise InvalidEvent("bad_receipt", f"delivery_id is 1 to {longest} printable characters")
    return ev


def receipt_line(line: bytes) -> Event | None:
    """A line of an events file that is a receipt (``cjo-stream tail --receipts``) as the event the workers make of
    it; None when it is no readable receipt (the event rules then tell what is wrong with the line). ``simulate``
    told such a line ``missing_field`` (no ``messageId``) while its notes asked for receipts in the input. Asked
    only of a line that is no event: a wrapper over every line cost a replay ~330 ns a line."""
    if b'"delivery_id"' not in line:
        return None
    try:
        return decode_event(receipt_record_event(line))
    except InvalidEvent:
        return None
