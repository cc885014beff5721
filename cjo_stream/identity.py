"""Identity resolution: which customer an event belongs to (anonymous id → known user id).

Pure logic over a mapping of links, so the simulator (a dict) and the runtime (a changelogged table)
share it. A link is written when an event carries both ``anonymousId`` and ``userId``, or by an
``alias`` event (``previousId`` → ``userId``). The first link of an id wins: a later, different link is
ignored rather than silently moving a customer's history to someone else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from cjo_stream.events import Event

_MAX_HOPS: Final = 16


def canonical(links: Mapping[str, str], ident: str) -> str:
    """Follow links to the customer id (bounded, so a cycle in bad data cannot hang a worker)."""
    for _ in range(_MAX_HOPS):
        nxt = links.get(ident)
        if nxt is None or nxt == ident:
            return ident
        ident = nxt
    return ident


def new_links(links: Mapping[str, str], ev: Event, customer: str | None = None) -> list[tuple[str, str]]:
    """Links this event establishes that are not known yet, as ``(from_id, customer_id)`` pairs.

    ``customer``: the user id's customer (``canonical(links, ev.user_id)``) when the caller has it already.
    """
    uid = ev.user_id
    if not uid:
        return []
    target = canonical(links, uid) if customer is None else customer
    out: list[tuple[str, str]] = []
    for other in (ev.anonymous_id, ev.previous_id):
        # an id with no link of its own is its own customer: no need to follow it
        if other and other != uid and other not in links and other != target:
            out.append((other, target))
    return out


def customer_of(links: Mapping[str, str], ev: Event) -> str:
    """The customer id an event resolves to, given links (apply :func:`new_links` first)."""
    return canonical(links, ev.user_id or ev.anonymous_id or "")
