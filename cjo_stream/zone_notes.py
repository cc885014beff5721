"""Customers whose data names a time zone that is none: told after a simulation.

A ``timezone`` trait (or an event's ``context.timezone``) that names no zone of the tz database is passed
over without a word, and the customer is timed in the policies' ``default_timezone`` (README, Profile):
``America/NewYork`` or ``america/new_york`` moved every quiet hour, ``wait_until`` and schedule of those
customers by hours, and a simulation showed nothing of it (a walkthrough migrating Braze profiles). The
names are the customers' data: the note says how many customers and which names, never who.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from zoneinfo import available_timezones

from cjo_stream.profile_types import Profile
from cjo_stream.zones import zone

#: names shown in the note, most customers first
SHOWN = 3


@lru_cache(maxsize=1)
def _known() -> dict[str, str]:
    """Every zone name of the tz database, by its lower-case spelling."""
    return {name.lower(): name for name in available_timezones()}


def closest_zone(name: str) -> str | None:
    """The tz database's zone a name most likely means (``america/new_york``, ``Europe/Pairs``), else None."""
    known = _known()
    folded = name.strip().lower().replace(" ", "_")
    if folded in known:
        return known[folded]
    close = difflib.get_close_matches(folded, list(known), n=1, cutoff=0.8)
    return known[close[0]] if close else None


def unknown_zone_reason(name: str) -> str:
    """Why a zone name in a topology file (``default_timezone``, a journey's ``timezone``) is refused: with the
    zone it likely means."""
    close = closest_zone(name)
    hint = f"did you mean {close!r}?" if close else "use an IANA name like Europe/Berlin"
    return f"unknown time zone {name!r}: {hint}"


def unknown_zones(profiles: Iterable[Profile], default: str) -> str | None:
    """One note on the customers timed in ``default`` because the zone their data names is none (None when
    there are none): how many, the names (with the zone each likely means), what to do."""
    names: Counter[str] = Counter()
    customers = 0
    for p in profiles:
        bad = [n for n in (p.traits.get("timezone"), p.timezone) if isinstance(n, str) and n and zone(n) is None]
        good = any(isinstance(n, str) and n and zone(n) is not None for n in (p.traits.get("timezone"), p.timezone))
        if bad and not good:
            customers += 1
            names.update(set(bad))
    if not customers:
        return None
    shown = []
    for name, n in names.most_common(SHOWN):
        close = closest_zone(name)
        shown.append(f"{name!r} ({n}{f', did you mean {close!r}?' if close else ''})")
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return (f"{customers} customer(s) name a time zone the tz database does not have: {', '.join(shown)}{more}; "
            f"they are timed in default_timezone {default} (quiet hours, wait_until, schedules): write IANA "
            "names such as America/New_York in the `timezone` trait")


def _shown(name: str) -> str:
    """A name as a log may show it: one that looks like a zone's (a worker's log holds no customer data, and a
    ``timezone`` trait may hold any text), else ``(not shown)``."""
    looks = 0 < len(name) <= 40 and name.isascii() and name.replace("/", "").replace("_", "").replace(
        "-", "").replace("+", "").isalnum()
    if not looks:
        return "(not shown)"
    close = closest_zone(name)
    return repr(name) + (f" (did you mean {close!r}?)" if close else "")


def live_note(names: Iterable[str], default: str) -> str:
    """A worker's log line on zone names its customers' data gave that are no zone (newly read ones)."""
    return (f"customers' data names a time zone the tz database does not have: {', '.join(map(_shown, names))}; "
            f"those customers are timed in default_timezone {default} (quiet hours, wait_until, schedules): "
            "write IANA names such as America/New_York in the `timezone` trait")
