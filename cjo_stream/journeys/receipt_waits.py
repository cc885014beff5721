"""Waits, goals and exits on a delivery receipt that take the receipt of any message the customer got.

A receipt (``message_opened``, ``message_clicked``, ``message_delivered``, ...: :mod:`cjo_stream.receipts`) is
an event of the customer, not of the journey that sent the message: ``wait_for: {event: message_opened}`` after a
send is satisfied by the opening of a newsletter, or of another journey's mail, read during the wait. Its
``properties`` say which send it is about (``journey``, ``step``, ``delivery_id``); a condition reading neither
its ``journey`` nor its ``delivery_id`` is warned about at load (a ``step`` id names a step of any journey). A
warning, not a problem: "any message opened" may be what the author means, and journeys written that way must
still load.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

from cjo_stream.commands import ReceiptStatus
from cjo_stream.event import RECEIPT_PREFIX
from cjo_stream.journeys.model import Journey, Matcher, exit_place
from cjo_stream.journeys.source import Located, Path

#: The receipts about one message. ``unsubscribed`` and ``complained`` are left out: they withdraw the customer's
#: consent for the whole channel (the profile applies them so), and leaving on any of them is what an exit means.
PER_MESSAGE = frozenset(RECEIPT_PREFIX + s for s in get_args(ReceiptStatus) if s not in ("unsubscribed", "complained"))

#: The receipt properties that tie it to a send (README, Streaming runtime; docs/adapters.md, Receipts). ``step``
#: alone does not: a step id is unique only within its journey, and another journey's step of that name is taken too.
_SEND_KEYS = frozenset({"journey", "delivery_id"})

#: What to add to the condition (``journey.id`` is the journey's own id in every condition).
FIX = "event.properties.journey == journey.id"
_STEP = frozenset({"step"})


def _reads(m: Matcher, names: frozenset[str], *, compared: bool = False) -> bool:
    """Whether the matcher's ``when`` reads one of the receipt's ``event.properties.<name>`` (``compared``: with
    ``==`` or ``in``; ``exists(event.properties.delivery_id)`` or ``!= null`` holds for every receipt)."""
    if m.when is None:
        return False
    paths = m.when.equated if compared else m.when.paths
    return any(root == "event" and keys[:1] == ("properties",) and keys[1:2] and keys[1] in names
               for root, keys in paths)


def _ties_to_a_send(m: Matcher) -> bool:
    return _reads(m, _SEND_KEYS, compared=True)


def _matchers(j: Journey, src: Located) -> Iterator[tuple[str, Matcher, Path]]:
    """The goal, each exit_on and each wait_for way, with what to call it and the YAML path of its event."""
    if j.goal is not None:
        yield "the goal", j.goal, ("goal", "event")
    for k, m in enumerate(j.exit_on):
        yield f"exit_on {exit_place(j, k) + 1}", m, ("exit_on", exit_place(j, k), "event")
    for i, step in enumerate(j.steps.values()):
        paths = ("steps", i, "wait_for", "paths") in src.lines
        for k, (m, _) in enumerate(step.ways):
            if paths:
                yield f"step {step.id}'s wait_for path {k + 1}", m, ("steps", i, "wait_for", "paths", k, "event")
            else:
                yield f"step {step.id}'s wait_for", m, ("steps", i, "wait_for", "event")


def receipt_wait_warnings(loaded: list[tuple[Journey, Located]]) -> list[str]:
    """``file:line: warning: ...`` for each goal, exit_on or wait_for on a per-message receipt whose ``when`` reads
    neither the receipt's ``journey`` nor its ``delivery_id`` (its ``step`` alone: any journey's step of that name),
    with the condition to add."""
    out: list[str] = []
    for j, src in loaded:
        mine: list[tuple[int, str]] = []  # in the file's line order (the goal, written last, is found first)
        for what, m, path in _matchers(j, src):
            if m.event not in PER_MESSAGE or _ties_to_a_send(m):
                continue
            add = f"when: {FIX}" if m.when is None else f"`{FIX} and (...)` to its when"
            line = src.line(path)
            if _reads(m, _STEP):
                whose = ("of a step of that name in any journey (a step id is unique only within its journey), not "
                         "only this journey's")
            elif _reads(m, _SEND_KEYS):  # exists(event.properties.delivery_id): read as "my send's", met by any
                whose = ("of any message the customer got, from any journey: its when reads the receipt's journey "
                         "or delivery_id without requiring a value (exists(...), != null, != and not in are met by "
                         "other journeys' receipts)")
            else:
                whose = ("of any message the customer got, from any journey (a newsletter's, another journey's), not "
                         "only this journey's")
            mine.append((line, f"{j.source}:{line}: warning: {what} takes {m.event!r} {whose}: add {add} (and "
                               f"event.properties.step == '<send step>' for one send: a step id names a step of any "
                               f"journey)"))
        out.extend(text for _, text in sorted(mine, key=lambda w: w[0]))
    return out
