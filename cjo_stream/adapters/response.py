"""What a webhook's receiver answered, as it travels in the receipt: ``{status, body}``.

A journey can branch on it (``wait_for: {event: message_delivered, when: event.properties.response.body
.score >= 80}``). The receipt comes back as a touchpoint event through the ingest stage, which refuses
records by the event rules (depth, numbers: :func:`cjo_stream.events.decode_event`); a body those rules
would refuse, a body that is not JSON, or one over :data:`MAX_BODY_BYTES`, is left out — with the reason
in ``omitted`` — rather than losing the receipt. Bodies go to the receipts topic, never to logs.
"""

from __future__ import annotations

from typing import Any

import orjson

from cjo_stream.events import InvalidEvent, decode_event

#: Largest response body (bytes of JSON) carried in a receipt: enough for a score or a decision, small
#: enough that a receipt stays a small record and a profile keeping it for a wait_for stays small.
MAX_BODY_BYTES = 4096

_PROBE_HEAD = (b'{"messageId":"probe","type":"track","event":"message_delivered","userId":"probe",'
               b'"timestamp":"2026-01-01T00:00:00Z","properties":{"response":{"body":')


def response_summary(status: int, body: bytes) -> dict[str, Any]:
    """``{"status": 200, "body": {...}}``, or ``{"status", "omitted": reason, "size"}`` without the body.

    ``omitted`` is ``too_large`` (over :data:`MAX_BODY_BYTES`), ``not_json``, or the event rule the body
    breaks (``too_deep``, ``bad_number``, ...). An empty body gives just the status.
    """
    out: dict[str, Any] = {"status": status}
    body = body.strip()
    if not body:
        return out
    if len(body) > MAX_BODY_BYTES:
        out.update(omitted="too_large", size=len(body))
        return out
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        out.update(omitted="not_json", size=len(body))
        return out
    try:  # the rules the ingest stage applies to the receipt event, at the depth the body will sit
        decode_event(_PROBE_HEAD + orjson.dumps(value) + b"}}}")
    except InvalidEvent as e:
        out.update(omitted=e.reason, size=len(body))
        return out
    out["body"] = value
    return out
