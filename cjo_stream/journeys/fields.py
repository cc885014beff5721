"""The fixed fields of what conditions and templates read, so a misspelt one is refused at load.

Why: a missing key is null, never an error — right for data (a property, a trait, a counter), but a
typo in a name the engine fixes (``profile.trait.vip``, ``event.propertes.cart_value``, ``{{ journy.id }}``)
would then make a condition silently false, or a template silently empty, for every customer. The
names below are what ``Event.view``, ``Profile.view`` and the engine's ``journey`` mapping hold
(``tests/journeys/test_fields.py`` compares them); only the first key under each is fixed.
"""

from __future__ import annotations

import difflib
from typing import Any, Final

__all__ = ["FIELDS", "ROOTS", "unknown_field", "unknown_root"]

#: what templates can name at the top: the three mappings, ``now`` (epoch seconds), ``today`` (its UTC
#: date, templates only: conditions compare ``now``) and the topology's ``catalogs`` (journeys.catalogs)
ROOTS: Final = ("event", "profile", "journey", "now", "today", "catalogs")

FIELDS: Final[dict[str, frozenset[str]]] = {
    "event": frozenset({"messageId", "type", "event", "name", "userId", "anonymousId", "timestamp",
                        "properties", "traits", "context", "previous"}),
    "profile": frozenset({"customer_id", "traits", "counters", "last", "first_seen", "last_seen", "consent",
                          "timezone", "stage", "stage_since", "undeliverable"}),
    "journey": frozenset({"id", "version", "instance_id", "entered_at", "variant", "step", "holdout"}),
}

#: Liquid's own properties of any mapping: ``x.size`` (its number of keys), ``x.first``/``x.last`` (an item)
_LIQUID_EXTRA: Final = frozenset({"size", "first", "last"})


def _hint(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_field(root: str, keys: tuple[Any, ...], *, liquid: bool = False) -> str | None:
    """Why a path below ``root`` names no field of it, or None when it does (or cannot be told: a computed
    key, a root that is not a mapping)."""
    fields = FIELDS.get(root)
    if fields is None or not keys or type(keys[0]) is not str:
        return None
    name = keys[0]
    if name in fields or (liquid and name in _LIQUID_EXTRA):
        return None
    choices = sorted(fields)
    return f"{root} has no field {name!r}{_hint(name, choices)}; its fields are {', '.join(choices)}"


def unknown_root(name: str) -> str | None:
    """Why a template's top-level variable is none of :data:`ROOTS`, or None when it is one."""
    if name in ROOTS:
        return None
    return f"unknown variable {name!r}{_hint(name, list(ROOTS))}; templates see {', '.join(ROOTS)}"
