"""How long a journey waits before a step comes round again: loops must wait at least :data:`MIN_LOOP` a round.

Why: a loop whose waits add up to a few seconds sets a timer per customer every few seconds for as long as the
instance lives (``max_duration``, 30 days by default: millions of decisions for one customer), and one whose
wait is below a float's resolution at today's epoch (``wait: 0.0000001s``) never moves the clock on at all:
``simulate`` spun forever on one event, and a worker would spin the same way on that partition. Journeys
wait for people, in minutes to days; a loop that polls faster is a mistake.

A step's ways on are weighed by the waiting they take: a ``wait`` its duration, a ``wait_for``'s timeout
its ``timeout``, a ``wait_until`` at least :data:`MIN_LOOP` (the next such time of day, never the same
instant; with ``until``, a time window, none: inside it the step goes on at once), and every other step none. A ``wait_for``'s way on by its event is driven by the customer's
events, not the clock, so no loop through it can spin by itself and it is not weighed at all; a condition's way
(``wait_for: {condition}``) weighs none: the condition may hold as the wait begins, and it goes on at once.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Final

from cjo_stream.journeys.model import END, Step

#: The least waiting a loop may do per round (seconds).
MIN_LOOP: Final = 60.0


def ways_on(step: Step) -> Iterator[tuple[str, float]]:
    """``(next step, seconds of waiting on the way)`` for each clock-driven way on from ``step``."""
    if step.kind == "wait":
        yield step.next, step.seconds
    elif step.kind == "wait_until" and step.time is not None:  # a time from the data may have passed: on at once
        yield step.next, 0.0
        yield step.on_missing, 0.0
    elif step.kind == "wait_until":
        yield step.next, MIN_LOOP if step.window_end < 0 else 0.0  # (inside a time window: on at once)
    elif step.kind == "wait_for":
        if step.condition is not None:
            yield step.next, 0.0  # (it may hold as the wait begins: on at once)
        yield step.on_timeout, step.seconds
    else:
        for t in step.targets:
            yield t, 0.0


def shortest_waits(steps: Mapping[str, Step], start: str) -> dict[str, float]:
    """The least waiting from entering ``start`` to entering each step reachable by the clock alone."""
    best: dict[str, float] = {start: 0.0}
    todo = [(0.0, start)]
    while todo:
        d, sid = heapq.heappop(todo)
        if d > best[sid] or sid == END:
            continue
        for t, w in ways_on(steps[sid]):
            if t not in best or d + w < best[t]:
                best[t] = d + w
                heapq.heappush(todo, (d + w, t))
    return best


def quick_cycle(ways: Callable[[str], Iterable[tuple[str, float]]], order: Iterable[str]) -> tuple[list[str], float] | None:
    """The first cycle (by ``order`` of its first node) that waits under :data:`MIN_LOOP` a round, as its
    nodes from that one back to it and the seconds a round waits; None when every cycle waits enough.

    ``ways(node)`` lists ``(next node, seconds of waiting on the way)``: the steps of a journey
    (:func:`ways_on`) or the journeys that hand over to one another (their least waiting before it).
    """
    for start in order:
        best: dict[str, float] = {}
        came: dict[str, str] = {}
        todo: list[tuple[float, str]] = [(0.0, start)]
        first = True
        while todo:
            d, s = heapq.heappop(todo)
            if not first:
                if d > best[s] or d >= MIN_LOOP:
                    continue
                if s == start:  # back where it began, under the least a round may wait
                    path = [start]
                    while True:
                        path.append(came[path[-1]])
                        if path[-1] == start:
                            return path[::-1], d
            first = False
            for t, w in ways(s):
                if t not in best or d + w < best[t]:
                    best[t], came[t] = d + w, s
                    heapq.heappush(todo, (d + w, t))
    return None


def quick_loop(steps: Mapping[str, Step], order: Iterable[str]) -> tuple[list[str], float] | None:
    """:func:`quick_cycle` over a journey's steps."""
    return quick_cycle(lambda sid: ((t, w) for t, w in ways_on(steps[sid]) if t != END), order)


def describe(seconds: float) -> str:
    """``0.5s``, ``30s``, ``1.5m`` for a message."""
    if seconds >= 60:
        return f"{seconds / 60:g}m"
    return (f"{seconds:.9f}".rstrip("0").rstrip(".") or "0") + "s"  # as a file writes it, not 1e-07s
