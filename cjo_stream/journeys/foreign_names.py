"""What a name of Customer.io's, Klaviyo's, Adobe Journey Optimizer's (or Dittofeed's) templates and conditions is
here, for the load error refusing it.

A campaign moved from Customer.io brings ``{{ customer.first_name }}``, ``{{ event.total }}`` (its event's data,
without ``properties``) and ``{% if customer.plan == "pro" %}``; Dittofeed's bring ``{{ user.firstName }}``,
``{{ user.id }}`` (the user's id, no trait) and ``{{ tags.journeyId }}``; a
Klaviyo flow ``{{ person.first_name }}``, ``{{ event.extra.line_items }}`` (Shopify's order under ``extra``) and
``{{ organization.name }}``. The loader refused them as an unknown variable or an event field, listing what there
is, which did not say where the value lives here (walkthroughs migrating Customer.io campaigns and Klaviyo flows).
Adobe Journey Optimizer's personalization names the profile's XDM paths below our own root,
``{{profile.person.name.firstName}}``, and the journey's event as ``{{context.journey.events.<event id>.<path>}}``:
the loader said only "profile has no field 'person'" of the first.
:func:`foreign_hint` says it, on the same line, written as the reader would paste it.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Final

from cjo_stream.journeys.fields import FIELDS

#: the tools' roots whose values are the customer's traits here
_TRAIT_ROOTS: Final = {"customer": "Customer.io", "user": "Dittofeed", "person": "Klaviyo"}

#: the tools' attributes whose counterpart is not ``profile.traits.<the same name>``
_ID_FIELDS: Final = {
    "customer": {"id": "profile.customer_id", "cio_id": "profile.customer_id"},
    # Klaviyo's SMS number is `phone_number`; the sms channel's address here is the `phone` trait
    "person": {"external_id": "profile.customer_id", "phone_number": "profile.traits.phone"},
    # Dittofeed's user properties `id` (the user's id, no trait) and `deviceToken` (here the push address's trait)
    "user": {"id": "profile.customer_id", "deviceToken": "profile.traits.push_token"},
}

#: Dittofeed's message tags (``{{ tags.journeyId }}``, in a webhook's body): the journey's own fields here
_DITTOFEED_TAGS: Final = {"journeyId": "journey.id", "nodeId": "journey.step", "runId": "journey.instance_id",
                          "userId": "profile.customer_id"}

#: Dittofeed's ``{{ secrets.API_KEY }}``: no secret is in a journey here, an adapter's environment holds it
_SECRETS: Final = ("Dittofeed's %s has no counterpart in a journey: a secret goes in the adapter's environment, "
                   "CJO_WEBHOOK_HEADERS for a webhook's headers (README, \"Coming from Dittofeed\")")

#: Klaviyo's account fields (``{{ organization.name }}``): the account is no data here
_ORGANIZATION: Final = ("Klaviyo's %s has no counterpart here: write it in the content as text "
                        "(README, \"Coming from Klaviyo\")")

#: Customer.io's campaign fields: the journey is the campaign here
_CAMPAIGN_FIELDS: Final = {"id": "journey.id", "name": "journey.id"}

#: Adobe Journey Optimizer (XDM) profile paths whose counterpart is not ``profile.traits.<the last name>``: the
#: channels' addresses are the ``email`` and ``phone`` traits here
_AJO_PROFILE: Final = {("personalEmail", "address"): "profile.traits.email",
                       ("mobilePhone", "number"): "profile.traits.phone"}
AJO: Final = "Adobe Journey Optimizer"

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _key(root: str, key: object) -> str:
    return f"{root}.{key}" if isinstance(key, str) and _NAME.match(key) else f"{root}[{key!r}]"


def _written(root: str, keys: tuple[Any, ...]) -> str:
    out = root
    for k in keys:
        out = _key(out, k)
    return out


def foreign_path(root: str, keys: tuple[Any, ...]) -> tuple[str, str] | None:
    """(the tool, the path here) for another tool's ``root`` and the ``keys`` below it, or None when it names
    nothing of theirs (a key not text, a root of no tool, an event field that is one here)."""
    if not keys or not isinstance(keys[0], (str, int)):
        return None
    first, rest = keys[0], keys[1:]
    if root in _TRAIT_ROOTS:
        if first in _ID_FIELDS.get(root, {}) and not rest:
            return _TRAIT_ROOTS[root], _ID_FIELDS[root][str(first)]
        return _TRAIT_ROOTS[root], _written("profile.traits", keys)
    if root == "trigger":  # an API-triggered broadcast's data: here, the entry event's properties
        return "Customer.io", _written("event.properties", keys)
    if root == "event":  # Customer.io's and Klaviyo's {{ event.total }}: the event's data, our event.properties
        if first == "extra" and rest:  # Klaviyo's Shopify data, `event.extra.line_items`: what the producer sends
            return "Klaviyo", _written("event.properties", rest)
        if first in FIELDS["event"] or difflib.get_close_matches(str(first), FIELDS["event"], n=1, cutoff=0.6):
            return None  # a field here, or a misspelt one (`event.propertes`), which the error's "did you mean" names
        return "Customer.io and Klaviyo", _written("event.properties", keys)
    if root == "campaign" and first in _CAMPAIGN_FIELDS and not rest:
        return "Customer.io", _CAMPAIGN_FIELDS[str(first)]
    if root == "tags" and first in _DITTOFEED_TAGS and not rest:
        return "Dittofeed", _DITTOFEED_TAGS[str(first)]
    if root == "profile":
        return _ajo_profile(keys)
    if root == "context" and keys[:2] == ("journey", "events") and len(keys) > 3:  # the event id, then its data
        return AJO, _written("event.properties", keys[3:])
    return None


def _ajo_profile(keys: tuple[Any, ...]) -> tuple[str, str] | None:
    """Adobe Journey Optimizer's ``profile.person.name.firstName`` (an XDM path below a root of ours) written here:
    a trait by its last name (``profile.traits.firstName``), the addresses and consents as the profile has them;
    None for a field here or a misspelt one (``profile.trait``), which the error's "did you mean" names."""
    first = keys[0]
    if first == "consents" and len(keys) == 4 and keys[1] == "marketing" and keys[3] == "val":
        return AJO, f"profile.consent.{keys[2]}"  # ('y'/'n' there, true/false here)
    if first in FIELDS["profile"] or difflib.get_close_matches(str(first), FIELDS["profile"], n=1, cutoff=0.6):
        return None
    if len(keys) == 1:  # `profile.email`: no XDM path, a guess at a trait (told so by foreign_hint)
        return None
    if tuple(keys) in _AJO_PROFILE:
        return AJO, _AJO_PROFILE[tuple(keys)]
    if first == "person" and keys[1:2] == ("name",) and len(keys) == 3:  # person.name.firstName: a name trait
        return AJO, _written("profile.traits", keys[2:])
    return AJO, _written("profile.traits", keys)


def foreign_hint(root: str, keys: tuple[Any, ...], *, liquid: bool) -> str:
    """``; Customer.io's {{ customer.first_name }} is {{ profile.traits.first_name }} here (README, "Coming from
    Customer.io")`` for another tool's name (as a template writes it when ``liquid``, else as a condition does),
    or empty text when it names nothing of theirs."""
    if root == "organization" and len(keys) == 1 and isinstance(keys[0], str):
        theirs = _written(root, keys)
        return "; " + _ORGANIZATION % (f"{{{{ {theirs} }}}}" if liquid else theirs)
    if root == "secrets" and len(keys) == 1 and isinstance(keys[0], str):
        theirs = _written(root, keys)
        return "; " + _SECRETS % (f"{{{{ {theirs} }}}}" if liquid else theirs)
    found = foreign_path(root, keys)
    if found is None:
        if root == "profile" and len(keys) == 1 and isinstance(keys[0], str) and \
                not difflib.get_close_matches(keys[0], FIELDS["profile"], n=1, cutoff=0.6):
            trait = _written("profile.traits", keys)
            return f"; a trait is {f'{{{{ {trait} }}}}' if liquid else trait}"  # `{{ profile.email }}`
        return ""
    tool, ours = found
    theirs = _written(root, keys)
    if liquid:
        theirs, ours = f"{{{{ {theirs} }}}}", f"{{{{ {ours} }}}}"
    tools = tool.split(" and ")
    whose = " and ".join(f"{t}'s" for t in tools)
    sections = ", ".join(f'"Coming from {t}"' for t in tools)
    named = "the trait as your producer names it; " if tool == AJO and "profile.traits" in ours \
        and ours.strip("{} ") not in _AJO_PROFILE.values() else ""
    return f"; {whose} {theirs} is {ours} here ({named}README, {sections})"


#: a dotted name where an expression's parser stopped at an unknown name: ``customer.plan``
_DOTTED: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)")


#: Adobe Journey Optimizer's condition references: an event's field ``@event{OrderPlaced.commerce.order.total}``, a
#: profile's ``#{ExperiencePlatform.ProfileFieldGroup.profile.person.name.firstName}``
_AJO_REF: Final = re.compile(r"@event\{[A-Za-z0-9_]+\.([^}]+)\}|#\{ExperiencePlatform\.[A-Za-z0-9_]+\.profile\.([^}]+)\}")


def expression_hint(text: str, column: int) -> str:
    """:func:`foreign_hint` for the name an expression's parser refused at ``column`` (0-based) of ``text``."""
    if (ref := _AJO_REF.match(text, column)) is not None:
        root, path = ("event", f"properties.{ref.group(1)}") if ref.group(1) else ("profile", ref.group(2))
        found = foreign_path("profile", tuple(path.split("."))) if root == "profile" else None
        ours = found[1] if found else f"{root}.{path}"
        return f"; {AJO}'s {ref.group(0)} is {ours} here (README, \"Coming from {AJO}\")"
    m = _DOTTED.match(text, column)
    if m is None:
        return ""
    return foreign_hint(m.group(1), tuple(k for k in m.group(2).split(".") if k), liquid=False)
