"""Customers whose traits say "unsubscribed" in another tool's words, and who are still messaged: told after a
simulation or a replay.

Customer.io's global unsubscribe is the attribute ``unsubscribed: true``; a migrator's ``identify`` calls go on
sending it. Here it is a trait like any other: consent is the trait ``consent`` (``consent.<channel>``) or an
``unsubscribed`` event (README, Event model, "Profile"), so those customers were still e-mailed and nothing said
so (a walkthrough migrating Customer.io campaigns). The note counts customers and names the trait, never who.
Dittofeed's subscription change is a track event, ``DFSubscriptionChange`` (its SDK's ``subscribe`` and
``unsubscribe`` send it): here an event like any other, which changes no consent, told the same way.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Final

from cjo_stream.profile_types import Profile, consent_of

#: trait names that read as an unsubscribe (``unsubscribed``, ``email_unsubscribed``, ``Unsubscribed``), folded
_UNSUBSCRIBED: Final = re.compile(r"(?:[a-z0-9]+_)?unsubscribed")


def _folded(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def unsubscribed_trait_note(profiles: Iterable[Profile]) -> str | None:
    """One line for the customers holding a trait such as ``unsubscribed: true`` while e-mail consent is not
    withdrawn (:func:`consent_of`), or None when there are none."""
    held: Counter[str] = Counter()
    for p in profiles:
        for name, value in p.traits.items():
            if (value is True or value == "true") and _UNSUBSCRIBED.fullmatch(_folded(name)) \
                    and consent_of(p, "email") is not False:
                held[name] += 1
                break
    if not held:
        return None
    names = ", ".join(f"{name!r}: true ({n})" for name, n in held.most_common(3))
    return (f"{sum(held.values())} customer(s) of the input hold the trait {names} with their e-mail consent not "
            "withdrawn, so sends still reach them: a trait changes no consent here (Customer.io's unsubscribed "
            "attribute included); send the trait consent: false (every channel), consent.email: false, or an event "
            "named 'unsubscribed' (README, \"Coming from Customer.io\")")


#: Dittofeed's subscription change (``properties: {subscriptionId, action: Subscribe | Unsubscribe}``)
_DITTOFEED_CHANGE: Final = "DFSubscriptionChange"


def subscription_event_note(profiles: Iterable[Profile]) -> str | None:
    """One line for the customers who sent Dittofeed's ``DFSubscriptionChange``, which changes no consent here, or
    None when none did."""
    n = sum(1 for p in profiles if _DITTOFEED_CHANGE in p.events)
    if not n:
        return None
    return (f"{n} customer(s) of the input sent the event '{_DITTOFEED_CHANGE}' (Dittofeed's subscription change), "
            "which changes no consent here: it is an event like any other; send an event named 'unsubscribed' (or "
            "'subscribed') with properties.topic, the topic's name (README, \"Coming from Dittofeed\")")
