"""Customers a ``bounce_cleared`` event left suppressed: told after a simulation or a replay.

A clear forgets the hard bounces of the channel it names (``properties.channel``), of the address it names, stamped
no later than it (README, Hard bounces). One naming a channel misspelt (``emial``), or an address not as the trait
holds it, cleared nothing, and every later mail to that address was still skipped ``undeliverable`` with nothing
said. The note counts the customers whose last clear left a bounce stamped before it, never who. An event named
as Segment's spec would (``Bounce Cleared``) clears nothing either: told by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from cjo_stream.profile_types import Profile

_CLEARED: Final = "bounce_cleared"


def uncleared_bounce_note(profiles: Iterable[Profile]) -> str | None:
    """One line for the customers who still have a hard bounce stamped no later than their last ``bounce_cleared``
    (it named another channel or address, or the receipt came after it), or None when there are none."""
    n = 0
    for p in profiles:
        cleared = p.events.get(_CLEARED)
        if cleared is not None and p.undeliverable and any(t <= cleared[1] for _ch, _g, t in p.undeliverable):
            n += 1
    if not n:
        return None
    return (f"{n} customer(s) of the input still have a hard bounce from before their last '{_CLEARED}' event, which "
            "named another channel or address, or came before the bounce's receipt: if it was meant to clear it, "
            "check properties.channel (a channel's name as the journeys write it, a list, or all) and "
            "properties.address (or address_digest), or send it again; their later sends to that address were "
            "skipped undeliverable (README, Hard bounces)")


def cleared_lookalikes(names: Iterable[str]) -> list[str]:
    """One line per input event name that reads as ``bounce_cleared`` and is not it (``Bounce Cleared``,
    ``email_bounce_cleared``): events are matched by their exact name, so it cleared no bounce."""
    out = []
    for name in sorted(names):
        folded = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        if name != _CLEARED and (folded == _CLEARED or folded.endswith("_" + _CLEARED)):
            out.append(f"events named {name!r} clear no hard bounce: only events named exactly '{_CLEARED}' do "
                       "(README, Hard bounces), so it forgot no customer's hard-bounced address")
    return out
