"""A webhook send's own request: what its content keys ``method``, ``headers`` and ``content_type`` may say.

Without ``method`` the webhook adapter POSTs the whole delivery command as JSON, for a receiver of yours. With
it, the request is the step's own, as Braze's and Customer.io's webhook steps build one for a third party's API
(a migrator could only write a channel class of their own): that method, the rendered ``body`` as the request
body, byte for byte, ``content_type`` (``application/json`` unless given) and ``headers``, a JSON object of
text values. The loader checks the constant ones at ``file:line``; the adapter checks what was rendered and
fails the send for good (no retry can mend it). Shared by both, so they refuse the same.
"""

from __future__ import annotations

from typing import Final

import orjson

#: the methods a webhook step may use (Braze's and Customer.io's, but HEAD and OPTIONS: nothing to deliver)
METHODS: Final = ("POST", "PUT", "PATCH", "DELETE", "GET")

#: headers the adapter sets itself (idempotency, signature, framing) and a step may not give
RESERVED: Final = frozenset({"content-type", "content-length", "host", "idempotency-key", "x-cjo-delivery-id",
                             "x-cjo-timestamp", "x-cjo-signature", "transfer-encoding", "connection"})

#: content keys with a meaning of their own in a webhook step's request
REQUEST_KEYS: Final = frozenset({"method", "headers", "content_type", "body"})


def method_of(text: str) -> str:
    """The method a step's ``method`` names (any case, spaces around), or ValueError saying why not."""
    method = text.strip().upper()
    if method not in METHODS:
        raise ValueError(f"method {text.strip()[:12]!r} is not one of {', '.join(METHODS)}")
    return method


def headers_of(text: str) -> dict[str, str]:
    """The headers a step's ``headers`` gives (a JSON object of text values), or ValueError saying why not."""
    try:
        data = orjson.loads(text) if text.strip() else {}
    except orjson.JSONDecodeError:
        raise ValueError('headers is not JSON: write a JSON object of text values, {"X-Source": "cjo"}') from None
    if not isinstance(data, dict):
        raise ValueError('headers is not a JSON object: write {"X-Source": "cjo"}')
    out: dict[str, str] = {}
    for name, value in data.items():
        if not name or any(c in name for c in ' \t\r\n:()<>@,;\\"/[]?={}') or not name.isascii():
            raise ValueError(f"header name {name!r} is not a token (letters, digits and -_.!#$%&'*+^`|~)")
        if name.lower() in RESERVED:
            raise ValueError(f"header {name!r} is set by the adapter (Content-Type from content_type:)")
        if not isinstance(value, str):
            raise ValueError(f"header {name!r} is not text: quote it")
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} holds a line break")
        out[name] = value
    return out
