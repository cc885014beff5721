"""Event properties a journey's conditions compare with a number that the input's events carried as text.

Values keep the producer's type (README, Expressions): ``"revenue": "30"`` never holds for
``event.properties.revenue >= 10``, and nothing said so at run time: a walkthrough's customer who ordered with
the amount in quotes entered no journey, while ``simulate`` told of nothing. After a simulation or replay, the
events that carried such a property as text are counted and told, per journey, event and property.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cjo_stream.journeys.conditions import (
    compared_keys,
    conditions,
    event_of,
    latest_versions,
    on_entry_event,
)
from cjo_stream.journeys.expressions import Expression
from cjo_stream.journeys.model import Journey
from cjo_stream.journeys.unset_traits import _role


def _keys(when: Expression) -> set[str]:
    """The top-level properties ``when`` compares with a number in a way text never meets (``>=``, ``==``, ``in``
    a list of numbers, arithmetic: ``event.properties.qty * 2 > 10``)."""
    return {key for key, literal, never, _ in compared_keys(when, "event", "properties")
            if never and literal == "a number"}


def numbers_compared(journeys: Iterable[Journey]) -> dict[str, frozenset[str]]:
    """Per event name, the property keys a condition matched against that event compares in order with a number:
    what a simulation looks at in each such event (:func:`text_number_notes`)."""
    out: dict[str, set[str]] = {}
    for j in journeys:
        entry_steps = on_entry_event(j)  # (a branch there reads the entry event)
        for c in conditions(j):
            event = event_of(j, c, entry_steps)
            if event is not None:
                keys = _keys(c.when)
                if keys:
                    out.setdefault(event, set()).update(keys)
    return {name: frozenset(keys) for name, keys in out.items()}


def text_number_notes(journeys: Iterable[Journey], as_text: Mapping[tuple[str, str], int],
                      where: str = "the input") -> list[str]:
    """One line per journey (latest version), event name and property compared with a number that ``as_text``
    counts events of carrying as text (only the count: the values are the customers' data)."""
    latest = latest_versions(journeys)
    out: list[str] = []
    for jid in sorted(latest):
        roles: dict[tuple[str, str], list[str]] = {}
        entry_steps = on_entry_event(latest[jid])
        for c in conditions(latest[jid]):
            event = event_of(latest[jid], c, entry_steps)
            if event is None:
                continue
            for key in sorted(_keys(c.when)):
                role = _role(c)
                if as_text.get((event, key)) and role not in roles.get((event, key), []):
                    roles.setdefault((event, key), []).append(role)
        for (event, key), roles_of in roles.items():
            n = as_text[(event, key)]
            out.append(f"journey {jid}: {n} {event!r} event(s) in {where} carried the property {key!r} as text "
                       f"(\"30\", not 30), which {', '.join(roles_of)} compares with a number: that never holds "
                       "for text (README, Expressions); send the number unquoted")
    return out
