"""Events a journey waits for that a simulated or replayed input never had: a likely typo.

A journey is checked against no list of event names (upstream systems name their own), so an entry on
``product_veiwed`` validates, and a simulation then shows zeros everywhere without saying why. After a
run, the names its events had are known: each entry, goal, ``wait_for`` and ``exit_on`` naming none of
them is told, with the closest name the input had.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from cjo_stream.event import RECEIPT_PREFIX  # an input of touchpoints alone has no receipts
from cjo_stream.journeys.conditions import latest_versions
from cjo_stream.journeys.model import SCHEDULED, Journey, Matcher
from cjo_stream.journeys.stage_model import STAGE_CHANGED


def _waits(j: Journey) -> Iterable[tuple[str, Matcher]]:
    if j.schedule is None and j.entry.event != SCHEDULED:
        yield "its entry", j.entry
    if j.goal is not None:
        yield "its goal", j.goal
    for m in j.exit_on:
        yield "its exit_on", m
    for step in j.steps.values():
        for m, _ in step.ways:
            yield f"step {step.id}'s wait_for", m


#: Segment's call types a journey may name for the events they are: a ``page`` call is ``page_viewed``
_CALLS = {"page": "page_viewed", "screen": "screen_viewed"}


def _folded(name: str) -> str:
    """``Order Completed``, ``order-completed`` and ``order_completed`` alike: the spellings of one event name
    in Segment's spec and in snake case (difflib found ``Signed Up`` too far from ``signed_up``)."""
    return re.sub(r"[\s_-]+", "_", name.strip().lower())


def unseen(journeys: Iterable[Journey], names: set[str], outside: set[str] | None = None,
           where: str = "the input", *, stages: bool = False) -> list[str]:
    """One line per journey and event name it waits for that ``names`` lacks (latest version of each
    journey; nothing when ``names`` and ``outside`` are empty: there was no input to speak of).
    ``outside``: the names of the input's events outside a replay's time range, which are no typo;
    ``where``: what ``names`` are of, as the lines say it; ``stages``: the topology has lifecycle stages, whose
    ``stage_changed`` the engine makes (a journey entered on it was told the input had no such event)."""
    outside = outside or set()
    if not names and not outside:
        return []
    if stages:
        names = names | {STAGE_CHANGED}
    latest = latest_versions(journeys)
    choices = sorted(names | outside)
    # hand-over targets: an entry event nobody sends is how one is meant to be reached only by `enter:` (README,
    # Hand-over), no typo unless a name the input has is close to it
    targets = {s.enter for j in latest.values() for s in j.steps.values() if s.enter is not None}
    out: list[str] = []
    for jid in sorted(latest):
        roles: dict[str, list[str]] = {}
        for role, m in _waits(latest[jid]):
            if m.event not in names:
                roles.setdefault(m.event, []).append(role)
        for event, roles_of in roles.items():
            if event in outside:
                out.append(f"journey {jid}: no event named {event!r} in the time range ({', '.join(roles_of)}; "
                           "the input has some outside it)")
                continue
            close = [c for c in choices if _folded(c) == _folded(event)][:1] or \
                difflib.get_close_matches(event, choices, n=1, cutoff=0.75)
            call = _CALLS.get(_folded(event))
            if call is not None:  # Segment's call type, which is not the event's name (events.py)
                hint = f"; a {_folded(event)} call is the event {call!r}" + ("" if call in choices else ", none here")
            elif close:
                hint = f"; did you mean {close[0]!r}?"
            elif event == STAGE_CHANGED:
                hint = "; the engine makes it when a customer's lifecycle stage changes, which needs a stages.yaml " \
                       "beside policies.yaml"
            elif event.startswith(RECEIPT_PREFIX):
                hint = "; receipts come from the channel adapters: include them in the input, e.g. the lines of " \
                       "`cjo-stream tail --receipts --from-beginning`"
            else:
                hint = ""
                if jid in targets and roles_of == ["its entry"]:
                    continue
            out.append(f"journey {jid}: no event named {event!r} in {where} ({', '.join(roles_of)}{hint})")
    return out


#: the events that give and withdraw consent (profile.py), matched exactly as every event name is
_CONSENT = ("subscribed", "unsubscribed")


def consent_lookalike(name: str) -> str | None:
    """The consent event (``subscribed`` or ``unsubscribed``) an event name reads as and is not (Segment's
    title case ``Unsubscribed``, ``Email Unsubscribed``), else None; an adapter's receipt is none (receipts
    withdraw consent themselves)."""
    if name in _CONSENT or name.startswith(RECEIPT_PREFIX):
        return None
    folded = _folded(name)
    for consent in _CONSENT:
        if folded == consent or folded.endswith("_" + consent):
            return consent
    return None


def consent_note(shown: str, consent: str) -> str:
    """What events named ``shown`` (the name as a line may show it), read as ``consent``, do not do."""
    given = consent == "subscribed"
    return (f"events named {shown} change no consent: only events named exactly {consent!r} "
            f"{'give' if given else 'withdraw'} it (README, Event model, \"Profile\"; or a "
            f"trait consent.<channel>: {'true' if given else 'false'}), so customers who sent "
            f"one are {'not counted as opted in' if given else 'still messaged'}")


def consent_lookalikes(names: Iterable[str]) -> list[str]:
    """One line per input event name that reads as a consent event and is none (:func:`consent_lookalike`):
    it changes no consent, so its senders went on being messaged, and an ``exit_on`` on it ended one
    journey, leaving nothing said (a walkthrough)."""
    return [consent_note(repr(name), consent) for name in sorted(names)
            if (consent := consent_lookalike(name)) is not None]
